"""The delayed-retry pump: a thread in every worker's main process that puts due retries
back on their queues (``tasks.delayed.DelayedSet.release``) every ``PUMP_INTERVAL_SECONDS``.

Every worker runs one; the Lua script makes concurrent pumps safe (each due message moves
once). The periodic sweep runs ``release`` as well, a backstop should a pump thread have
died. Errors (Redis away) are logged and the pump keeps going: a retry is late, never lost.
"""

from __future__ import annotations

import logging
import threading

import redis
from celery import signals

from contract.settings import Settings
from tasks.delayed import DelayedSet

log = logging.getLogger(__name__)

PUMP_INTERVAL_SECONDS = 0.5


class RetryPump:
    def __init__(self, delayed: DelayedSet, interval: float = PUMP_INTERVAL_SECONDS) -> None:
        self.delayed = delayed
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="klaxon-retry-pump", daemon=True)

    def start(self) -> RetryPump:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                moved = self.delayed.release()
            except redis.RedisError as exc:
                log.warning("retry pump: cannot reach Redis (%s); trying again", exc)
                continue
            if moved:
                log.debug(
                    "retry pump: %d due retr%s back on the queues",
                    moved,
                    "y" if moved == 1 else "ies",
                )


_running: list[RetryPump] = []


def _on_worker_ready(**_: object) -> None:
    # After the pool has forked its children: the thread lives in the main process only.
    client = redis.Redis.from_url(Settings.from_env().redis_url)
    _running.append(RetryPump(DelayedSet(client)).start())


def _on_worker_shutdown(**_: object) -> None:
    while _running:
        _running.pop().stop()


signals.worker_ready.connect(_on_worker_ready, weak=False, dispatch_uid="klaxon.retry_pump.ready")
signals.worker_shutdown.connect(
    _on_worker_shutdown, weak=False, dispatch_uid="klaxon.retry_pump.shutdown"
)
