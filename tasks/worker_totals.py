"""The workers' shared totals for ``klaxon status`` (``contract.stats.WORKERS_KEY``), batched.

A HINCRBY per sent notification was one more Redis round trip on every send (about a tenth
of a notification's worker CPU, docs/performance.md). Sends are added up in the process and
written at most ``FLUSH_SECONDS`` later, by a timer thread, in one pipeline. A failure or a
dead letter is written at once, together with whatever is pending, so the totals are exact
whenever one is counted. A process killed outright loses at most ``FLUSH_SECONDS`` of sends
from the totals (never from the Prometheus counters, which are per process).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable

import redis

from contract.stats import WORKERS_KEY

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5


class PendingTotals:
    """Counts added up here and written to ``klaxon:stats:workers`` in batches."""

    def __init__(
        self, client: Callable[[], redis.Redis], flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self._client = client  # called when writing: the worker's runtime picks its Redis late
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._pending: Counter[str] = Counter()
        self._timer: threading.Timer | None = None

    def add(self, field: str, now: bool = False) -> None:
        """Count one ``field``; ``now`` writes it (and all pending) before returning."""
        with self._lock:
            self._pending[field] += 1
            if not now and self._timer is None:
                self._timer = threading.Timer(self.flush_seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if now:
            self.flush()

    def flush(self) -> None:
        """Write what is pending; never raises (a failed write is logged and dropped)."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            timer, self._timer = self._timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        if not pending:
            return
        try:
            pipe = self._client().pipeline(transaction=False)
            for field, amount in pending.items():
                pipe.hincrby(WORKERS_KEY, field, amount)
            pipe.execute()
        except redis.RedisError as exc:
            log.debug("worker totals %s not counted: %r", dict(pending), exc)
