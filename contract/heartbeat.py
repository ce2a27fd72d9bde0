"""Klaxon's own dead-man's switch: ping an external URL while the process is healthy.

``heartbeat: {url: https://hc-ping.com/<uuid>, every: 1m, max_lag: 10000}`` in the rules
file makes the bridge GET ``url`` every ``every`` while ``healthy()`` holds (for the bridge:
partitions assigned, Redis answering PING, consumer lag at most ``max_lag``). When it stops
being healthy, or dies, the pings stop and the external service raises the alarm; a
failed ping is logged and retried at the next beat. Read at start; a reload does not
change it.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from contract.durations import parse_duration
from contract.mapping import MappingReader

log = logging.getLogger(__name__)

DEFAULT_EVERY_SECONDS = 60.0
DEFAULT_MAX_LAG = 10_000
PING_TIMEOUT_SECONDS = 10.0
Healthy = Callable[[], tuple[bool, str]]


@dataclass(frozen=True)
class HeartbeatConfig:
    url: str
    every: float = DEFAULT_EVERY_SECONDS
    max_lag: int = DEFAULT_MAX_LAG


def load_heartbeat(top: MappingReader) -> HeartbeatConfig | None:
    """The ``heartbeat`` mapping of the rules file, problems reported with their field."""
    if not top.has("heartbeat"):
        return None
    data = top.mapping("heartbeat")
    reader = MappingReader(data, top.field_path("heartbeat"), top.sink)
    url = reader.required("url", str, "")
    if url and not url.startswith(("http://", "https://")):
        reader.error("url", f"expected an http:// or https:// URL, got {url!r}")
        url = ""
    every = DEFAULT_EVERY_SECONDS
    raw_every = reader.raw("every")
    if raw_every is not None:
        try:
            every = (
                float(raw_every)
                if isinstance(raw_every, int | float) and not isinstance(raw_every, bool)
                else parse_duration(str(raw_every))
            )
        except ValueError as exc:
            reader.error("every", str(exc))
        if every <= 0:
            reader.error("every", f"must be positive, got {raw_every!r}")
    max_lag = reader.optional("max_lag", int, DEFAULT_MAX_LAG)
    if max_lag < 0:
        reader.error("max_lag", f"must not be negative, got {max_lag}")
    reader.finish()
    return HeartbeatConfig(url, every, max_lag) if url and every > 0 else None


class Heartbeat:
    """A daemon thread that pings ``config.url`` every ``config.every`` while healthy."""

    def __init__(self, config: HeartbeatConfig, healthy: Healthy) -> None:
        self.config = config
        self.healthy = healthy
        self.stop = threading.Event()
        self.pings = 0  # successful pings, for logs and tests
        self._thread = threading.Thread(target=self._run, name="klaxon-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info(
            "heartbeat: pinging %s every %gs while healthy",
            _masked(self.config.url),
            self.config.every,
        )

    def close(self) -> None:
        self.stop.set()

    def beat(self) -> bool:
        """One beat: ping when healthy. True when a ping was sent and accepted."""
        try:
            ok, reason = self.healthy()
        except Exception as exc:  # noqa: BLE001 - an unhealthy check is a missed beat
            ok, reason = False, f"health check failed: {exc!r}"
        if not ok:
            log.warning("heartbeat: not pinging, unhealthy: %s", reason)
            return False
        try:
            # S310: load_heartbeat accepts http(s) URLs only.
            with urllib.request.urlopen(  # noqa: S310
                self.config.url, timeout=PING_TIMEOUT_SECONDS
            ) as answer:
                answer.read()
        except (urllib.error.URLError, OSError) as exc:
            log.warning("heartbeat: ping to %s failed: %s", _masked(self.config.url), exc)
            return False
        self.pings += 1
        return True

    def _run(self) -> None:
        while not self.stop.is_set():
            self.beat()
            self.stop.wait(self.config.every)


def all_healthy(*checks: Healthy) -> Healthy:
    """Healthy while every check is; the first failing check's reason otherwise."""

    def check() -> tuple[bool, str]:
        reasons = []
        for one in checks:
            ok, reason = one()
            if not ok:
                return False, reason
            reasons.append(reason)
        return True, "; ".join(reasons)

    return check


def _masked(url: str) -> str:
    """The URL without its path: a ping URL's path is often its secret."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/…"
