"""The workers' metric objects (``WorkerMetrics``), created once, on first use.

Created lazily, and prometheus-client imported only inside functions, so that the worker's
main process can still switch it to file-backed values first (``use_files``; the module
docstring of ``tasks.worker_metrics`` says why).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tasks.metrics_multiproc import multiprocess_active

if TYPE_CHECKING:  # names only: importing prometheus-client here is too early (see above)
    from prometheus_client import CollectorRegistry, Counter, Histogram

SEND_TIME_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WAIT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


def use_files() -> bool:
    """Make prometheus-client write values to files from now on; False if it is too late.

    Only for the worker's main process before it forks, with the variable set and before
    any worker metric exists (values created earlier stay in memory).
    """
    from prometheus_client import values  # noqa: PLC0415 - see the module's docstring

    if multiprocess_active():
        return True
    if _metrics is not None:
        return False
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]  # prometheus_client: untyped
    return True


@dataclass(frozen=True)
class WorkerMetrics:
    registry: CollectorRegistry
    sent: Counter
    failed: Counter
    send_time: Histogram
    dead: Counter
    muted: Counter
    throttle_wait: Histogram
    fallbacks: Counter


_lock = threading.Lock()
_metrics: WorkerMetrics | None = None


def worker_metrics() -> WorkerMetrics:
    """The worker's metric objects, created on first use (after the variable is settled).

    They live in a registry of their own: in the bridge process the seed's names belong to
    ``contract.metrics``, and in multiprocess mode the files, not a registry, are collected.
    """
    global _metrics  # noqa: PLW0603
    with _lock:
        if _metrics is None:
            from prometheus_client import (  # noqa: PLC0415 - see the module's docstring
                CollectorRegistry,
                Counter,
                Histogram,
            )

            registry = CollectorRegistry()
            _metrics = WorkerMetrics(
                registry=registry,
                sent=Counter(
                    "alert_engine_notifications_sent_total",
                    "Notifications sent",
                    ["channel", "rule_id"],
                    registry=registry,
                ),
                failed=Counter(
                    "alert_engine_notifications_failed_total",
                    "Notification failures",
                    ["channel", "error_type"],
                    registry=registry,
                ),
                send_time=Histogram(
                    "alert_engine_notification_send_time_seconds",
                    "Notification send time",
                    ["channel"],
                    buckets=SEND_TIME_BUCKETS,
                    registry=registry,
                ),
                dead=Counter(
                    "klaxon_dead_letters_total",
                    "Notifications that ended as dead letters",
                    ["channel"],
                    registry=registry,
                ),
                muted=Counter(
                    "klaxon_notifications_muted_total",
                    "Notifications a silence stopped in the worker, after the bridge enqueued them",
                    ["rule_id", "status"],
                    registry=registry,
                ),
                throttle_wait=Histogram(
                    "klaxon_rate_limit_wait_seconds",
                    "Waits of sends for their turn under a channel's rate limit (throttle)",
                    ["channel"],
                    buckets=WAIT_BUCKETS,
                    registry=registry,
                ),
                fallbacks=Counter(
                    "klaxon_fallbacks_total",
                    "Dead-lettered notifications sent once more through the fallback channel",
                    ["channel", "fallback"],
                    registry=registry,
                ),
            )
        return _metrics
