"""The worker's HTTP server for /metrics, /healthz and /readyz (main process only)."""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

import redis

from contract.settings import Settings
from tasks.metrics_multiproc import MULTIPROC_ENV, multiprocess_active
from tasks.worker_metric_registry import worker_metrics

log = logging.getLogger(__name__)

PORT_ENV = "WORKER_METRICS_PORT"
DEFAULT_PORT = 8004


@dataclass
class _Serving:
    server: ThreadingHTTPServer | None = None
    pid: int = 0  # the process serving; pool children inherit the socket, not the thread


_serving = _Serving()


def metrics_port(env: MutableMapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    raw = (env.get(PORT_ENV) or "").strip()
    try:
        return int(raw) if raw else DEFAULT_PORT
    except ValueError:
        log.error("%s=%r is not a port number; worker metrics are off", PORT_ENV, raw)
        return 0


def start_http(pool: str = "") -> ThreadingHTTPServer | None:
    """Serve /metrics, /healthz and /readyz for this worker; None if off or the port is taken."""
    port = metrics_port()
    if port == 0:
        return None
    # Imported here, after worker_init settled PROMETHEUS_MULTIPROC_DIR (module docstring).
    from prometheus_client import CollectorRegistry, multiprocess  # noqa: PLC0415

    from contract.health import redis_readiness, serve  # noqa: PLC0415

    if multiprocess_active():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client: untyped
    else:
        if "prefork" in pool:
            log.error(
                "worker metrics were created before %s was set: those of prefork children "
                "cannot be collected",
                MULTIPROC_ENV,
            )
        registry = worker_metrics().registry
    ready = redis_readiness(redis.Redis.from_url(Settings.from_env().redis_url))
    try:
        server, _thread = serve(port, ready, registry)
    except OSError as exc:
        log.error("worker metrics not served on port %d: %s", port, exc)
        return None
    _serving.server, _serving.pid = server, os.getpid()
    return server


def close_inherited_socket() -> None:
    """In a forked pool child, close its inherited copy of the main process's socket."""
    # The solo pool sends worker_process_init in the main process itself, which keeps serving.
    if _serving.server is not None and os.getpid() != _serving.pid:
        _serving.server.socket.close()


def stop_http() -> None:
    """Stop the server, in the process that started it."""
    if _serving.server is not None and os.getpid() == _serving.pid:
        _serving.server.shutdown()
        _serving.server.server_close()
