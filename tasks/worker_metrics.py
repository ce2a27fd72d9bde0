"""Worker-side Prometheus metrics and statistics, fed by Celery's task signals.

Only ``notify.*`` tasks are counted:

- ``alert_engine_notifications_sent_total{channel,rule_id}``: a task that sent
  (``Delivered.SENT``; a ``DUPLICATE`` was sent before and is not counted again);
- ``alert_engine_notifications_failed_total{channel,error_type}``: every failed attempt,
  retried or final; ``error_type`` is the ``DeliveryError.reason``. Which is which comes
  from the task's decision (``tasks.retry.decision_of``), never worked out again here: a
  wait for another worker's lease is not a failed attempt;
- ``alert_engine_notification_send_time_seconds{channel}``: each attempt, prerun to postrun;
- ``klaxon_dead_letters_total{channel}``: notifications that ended as dead letters;
- ``klaxon_notifications_muted_total{rule_id,status="silenced"}``: tasks a silence stopped
  after the bridge enqueued them (``Delivered.SILENCED``).
- ``klaxon_rate_limit_wait_seconds{channel}``: each wait of a send for its turn under the
  channel's rate limit (``WaitForTurn``; not a failed attempt);
- ``klaxon_fallbacks_total{channel,fallback}``: dead letters sent once more through the
  channel's fallback (counted by ``tasks.fallback``).

The same totals go to Redis (``klaxon:stats:workers``) for ``klaxon status``, batched
(``tasks.worker_totals``).

Prefork workers run tasks in child processes, so the metrics use prometheus-client's
multiprocess mode: each process writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``
and one HTTP server in the main process (port ``WORKER_METRICS_PORT``, default 8004, 0: off)
adds them up. prometheus-client decides between plain and file-backed values when it is
*first imported*, from that variable, and the ``celery`` command imports it early (Flower's
CLI plugin does). So:

- ``klaxon worker`` calls ``prepare_multiproc_dir`` before it imports Celery's CLI: the
  variable is set (to a fresh temporary directory if unset) and the directory emptied;
- for ``celery -A tasks worker`` the ``worker_init`` handler (main process, before any
  child forks) does the same and, if prometheus-client was already imported in plain mode,
  switches its value class to the file-backed one (``values.ValueClass``, which
  prometheus-client keeps swappable for this) before any worker metric exists. Metrics are
  created lazily for that reason, and this module imports prometheus-client only inside
  functions.

The same files serve ``-P threads`` and ``-P solo``, where tasks run in the main process.

Here: the task and worker signal receivers. The metric objects are in
``tasks.worker_metric_registry``, the directory of value files in ``tasks.metrics_multiproc``,
the HTTP server in ``tasks.worker_metrics_http``.

Importing this module anywhere (the bridge imports ``tasks``) only connects the signal
receivers; they fire in Celery workers alone. Metrics never break a task: every receiver
swallows and logs its own errors.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from celery import signals

from tasks.app_instance import runtime
from tasks.channels.errors import DeliveryError
from tasks.fallback import fallback_sent
from tasks.metrics_multiproc import MULTIPROC_ENV, multiprocess_active, prepare_multiproc_dir
from tasks.notify import Delivered
from tasks.retry import GiveUp, RetryIn, WaitForTurn, decision_of
from tasks.worker_metric_registry import use_files, worker_metrics
from tasks.worker_metrics_http import close_inherited_socket, start_http, stop_http
from tasks.worker_totals import PendingTotals

log = logging.getLogger(__name__)

TASK_PREFIX = "notify."


# --- task signals (in whichever process runs the task) -------------------------------------

_started: dict[tuple[str, int], float] = {}


def _channel(task: object) -> str | None:
    name = str(getattr(task, "name", "") or "")
    if not name.startswith(TASK_PREFIX):
        return None
    return str(getattr(task, "channel_name", "") or name.removeprefix(TASK_PREFIX))


def _rule_id(request: object) -> str:
    """The rule of a task's payload (its first argument), from Celery's task request."""
    args = getattr(request, "args", None)
    if isinstance(args, list | tuple) and args and isinstance(args[0], dict):
        return str(args[0].get("rule_id") or "unknown")
    return "unknown"


_totals = PendingTotals(lambda: runtime.redis)


def _count(field: str, now: bool = False) -> None:
    _totals.add(field, now=now)


def _failed(channel: str, exc: object, dead: bool) -> None:
    error_type = str(exc.reason) if isinstance(exc, DeliveryError) else type(exc).__name__
    if dead:
        _count("dead")
    _count("failed", now=True)  # rare: written at once, with any pending sends
    metrics = worker_metrics()
    metrics.failed.labels(channel, error_type).inc()
    if dead:
        metrics.dead.labels(channel).inc()


def _on_prerun(task_id: str = "", task: object = None, **_: object) -> None:
    if _channel(task) is not None:
        _started[(task_id, threading.get_ident())] = time.perf_counter()


def _on_postrun(task_id: str = "", task: object = None, **_: object) -> None:
    started = _started.pop((task_id, threading.get_ident()), None)
    channel = _channel(task)
    if channel is None or started is None:
        return
    try:
        worker_metrics().send_time.labels(channel).observe(time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - metrics never break a task
        log.debug("send time not observed: %r", exc)


def _on_success(sender: object = None, result: object = None, **_: object) -> None:
    channel = _channel(sender)
    if channel is not None and result == Delivered.SILENCED:
        try:
            rule_id = _rule_id(getattr(sender, "request", None))
            worker_metrics().muted.labels(rule_id, "silenced").inc()
        except Exception as exc:  # noqa: BLE001 - metrics never break a task
            log.debug("silenced notification not counted: %r", exc)
        return
    if channel is None or result != Delivered.SENT:
        return
    try:
        worker_metrics().sent.labels(channel, _rule_id(getattr(sender, "request", None))).inc()
        _count("sent")
    except Exception as exc:  # noqa: BLE001 - metrics never break a task
        log.debug("sent notification not counted: %r", exc)


def _on_retry(
    sender: object = None, request: object = None, reason: object = None, **_: object
) -> None:
    channel = _channel(sender)
    decision = decision_of(request)
    if channel is not None and isinstance(decision, WaitForTurn):
        try:
            worker_metrics().throttle_wait.labels(channel).observe(decision.seconds)
        except Exception as error:  # noqa: BLE001 - metrics never break a task
            log.debug("rate-limit wait not observed: %r", error)
        return  # a wait for its turn is not a failed attempt
    if channel is None or not isinstance(decision, RetryIn):
        return  # a wait for another worker's lease is not a failed attempt
    try:
        _failed(channel, getattr(reason, "exc", reason), dead=False)
    except Exception as error:  # noqa: BLE001 - metrics never break a task
        log.debug("failed attempt not counted: %r", error)


def _on_failure(sender: object = None, exception: BaseException | None = None, **_: object) -> None:
    channel = _channel(sender)
    if channel is None:
        return
    try:
        # The task's decision says whether it dead-lettered; without one it failed unexpectedly.
        request = getattr(sender, "request", None)
        dead = isinstance(decision_of(request), GiveUp)
        _failed(channel, exception, dead=dead)
        fallback = fallback_sent(request) if dead else None
        if fallback is not None:
            worker_metrics().fallbacks.labels(channel, fallback).inc()
    except Exception as error:  # noqa: BLE001 - metrics never break a task
        log.debug("failure not counted: %r", error)


# --- worker processes (the main one and the pool's children) -------------------------------


def _pool_name(worker: object) -> str:
    pool = getattr(worker, "pool_cls", "")
    return pool if isinstance(pool, str) else f"{getattr(pool, '__module__', '')}"


def _on_worker_init(sender: object = None, **_: object) -> None:
    path = prepare_multiproc_dir(os.environ, keep_pid=os.getpid())
    if use_files():
        log.info("worker metrics: %s=%s", MULTIPROC_ENV, path)
    start_http(_pool_name(sender))


def _on_process_init(**_: object) -> None:
    close_inherited_socket()


def _on_process_shutdown(pid: int | None = None, **_: object) -> None:
    _totals.flush()
    try:
        if multiprocess_active():
            from prometheus_client import multiprocess  # noqa: PLC0415

            multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]  # prometheus_client: untyped
    except Exception as exc:  # noqa: BLE001 - metrics never break a worker
        log.debug("mark_process_dead failed: %r", exc)


def _on_worker_shutdown(**_: object) -> None:
    _totals.flush()
    stop_http()


# Connected explicitly (celery's decorator is untyped); strong references, one each.
signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="klaxon.worker_metrics.prerun")
signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="klaxon.worker_metrics.postrun")
signals.task_success.connect(_on_success, weak=False, dispatch_uid="klaxon.worker_metrics.success")
signals.task_retry.connect(_on_retry, weak=False, dispatch_uid="klaxon.worker_metrics.retry")
signals.task_failure.connect(_on_failure, weak=False, dispatch_uid="klaxon.worker_metrics.failure")
signals.worker_init.connect(
    _on_worker_init, weak=False, dispatch_uid="klaxon.worker_metrics.worker_init"
)
signals.worker_process_init.connect(
    _on_process_init, weak=False, dispatch_uid="klaxon.worker_metrics.process_init"
)
signals.worker_process_shutdown.connect(
    _on_process_shutdown, weak=False, dispatch_uid="klaxon.worker_metrics.process_shutdown"
)
signals.worker_shutdown.connect(
    _on_worker_shutdown, weak=False, dispatch_uid="klaxon.worker_metrics.worker_shutdown"
)
