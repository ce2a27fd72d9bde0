"""The HTTP face of a Klaxon process: ``/metrics``, ``/healthz`` and ``/readyz``.

``/healthz`` answers 200 while the process lives (a liveness probe). ``/readyz`` answers 200
when the process can do its work, else 503 with the reason (a readiness probe: the bridge
is ready once it owns partitions and Redis answers). ``/metrics`` is the Prometheus text
exposition of ``registry`` (OpenMetrics when the scraper asks for it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

import redis
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)

Readiness = Callable[[], tuple[bool, str]]
PROBE_TIMEOUT_SECONDS = 0.5


def always_ready() -> tuple[bool, str]:
    return True, "ok"


def serve(
    port: int,
    ready: Readiness = always_ready,
    registry: CollectorRegistry = REGISTRY,
    host: str = "0.0.0.0",  # noqa: S104  (probes and scrapers come from outside a container)
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve the three endpoints on ``port`` (0: any free port) from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                try:
                    body = _exposition(lambda: encoder(registry))
                except Exception as exc:  # noqa: BLE001 - answer 500 rather than hang up
                    log.warning("metrics exposition failed: %r", exc)
                    self._answer(500, f"metrics exposition failed: {exc!r}\n".encode())
                    return
                self._answer(200, body, content_type)
            elif path == "/healthz":
                self._answer(200, b"ok\n")
            elif path == "/readyz":
                try:
                    ok, reason = ready()
                except Exception as exc:  # noqa: BLE001 - a probe answers, whatever the check did
                    ok, reason = False, f"readiness check failed: {exc!r}"
                self._answer(200 if ok else 503, f"{reason}\n".encode())
            else:
                self._answer(404, b"not found: try /metrics, /healthz or /readyz\n")

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="klaxon-http", daemon=True)
    thread.start()
    log.info("metrics and health on :%d (/metrics, /healthz, /readyz)", server.server_address[1])
    return server, thread


def _exposition(render: Callable[[], bytes], attempts: int = 3) -> bytes:
    """Render, retrying briefly: in multiprocess mode a scrape can meet a value file that a
    worker process is creating this instant (still empty), which prometheus-client's reader
    does not expect."""
    for attempt in range(1, attempts + 1):
        try:
            return render()
        except Exception:
            if attempt == attempts:
                raise
            time.sleep(0.02 * attempt)
    raise AssertionError("unreachable")


def probe_client(client: redis.Redis) -> redis.Redis:
    """A client to the same Redis whose commands give up after half a second."""
    pool = client.connection_pool
    kwargs = {
        **pool.connection_kwargs,
        "socket_timeout": PROBE_TIMEOUT_SECONDS,
        "socket_connect_timeout": PROBE_TIMEOUT_SECONDS,
    }
    return redis.Redis(
        connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class, max_connections=4, **kwargs
        )
    )


def redis_readiness(client: redis.Redis) -> Readiness:
    """Ready while Redis answers PING within half a second."""
    probe = probe_client(client)

    def check() -> tuple[bool, str]:
        try:
            probe.ping()
        except (redis.RedisError, OSError) as exc:
            return False, f"redis unreachable: {exc}"
        return True, "ok"

    return check


class HasAssignment(Protocol):
    assigned: set[tuple[str, int]]


def bridge_readiness(bridge: HasAssignment, redis_client: redis.Redis) -> Readiness:
    """Ready when the bridge owns at least one partition and Redis answers PING."""
    redis_ok = redis_readiness(redis_client)

    def check() -> tuple[bool, str]:
        assigned = len(bridge.assigned)
        if not assigned:
            return False, "no partitions assigned"
        ok, reason = redis_ok()
        if not ok:
            return False, reason
        return True, f"ok: {assigned} partition(s) assigned, redis answers"

    return check
