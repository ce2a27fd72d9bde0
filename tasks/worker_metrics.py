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

Importing this module anywhere (the bridge imports ``tasks``) only connects the signal
receivers; they fire in Celery workers alone. Metrics never break a task: every receiver
swallows and logs its own errors.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from celery import signals

from contract.settings import Settings
from tasks.app_instance import runtime
from tasks.channels.errors import DeliveryError
from tasks.fallback import fallback_sent
from tasks.notify import Delivered
from tasks.retry import GiveUp, RetryIn, WaitForTurn, decision_of
from tasks.worker_totals import PendingTotals

if TYPE_CHECKING:  # names only: importing prometheus-client here is too early (see above)
    from prometheus_client import CollectorRegistry, Counter, Histogram

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PORT_ENV = "WORKER_METRICS_PORT"
DEFAULT_PORT = 8004
TASK_PREFIX = "notify."
SEND_TIME_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WAIT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


def prepare_multiproc_dir(
    env: MutableMapping[str, str] | None = None, keep_pid: int | None = None
) -> Path:
    """Make ``PROMETHEUS_MULTIPROC_DIR`` an empty directory, creating a temporary one if unset.

    Call it before prometheus-client is imported in the worker's main process. Files left by
    an earlier run are removed (except those of ``keep_pid``): one directory per worker
    instance, never shared between instances.
    """
    env = os.environ if env is None else env
    given = env.get(MULTIPROC_ENV)
    if not given:
        path = Path(tempfile.mkdtemp(prefix="klaxon-prometheus-"))
        env[MULTIPROC_ENV] = str(path)
        owner = os.getpid()  # forked children inherit atexit hooks; only the creator cleans

        def remove() -> None:
            if os.getpid() == owner:
                shutil.rmtree(path, ignore_errors=True)

        atexit.register(remove)
        return path
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        if keep_pid is None or not stale.stem.endswith(f"_{keep_pid}"):
            stale.unlink(missing_ok=True)
    return path


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


def multiprocess_active() -> bool:
    """True if prometheus-client writes values to files (it was imported with the variable set)."""
    from prometheus_client import values  # noqa: PLC0415 - see the module's docstring

    return bool(getattr(values.ValueClass, "_multiprocess", False))


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


# --- the worker's HTTP server (main process) -----------------------------------------------


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


def _pool_name(worker: object) -> str:
    pool = getattr(worker, "pool_cls", "")
    return pool if isinstance(pool, str) else f"{getattr(pool, '__module__', '')}"


def _on_worker_init(sender: object = None, **_: object) -> None:
    path = prepare_multiproc_dir(os.environ, keep_pid=os.getpid())
    if use_files():
        log.info("worker metrics: %s=%s", MULTIPROC_ENV, path)
    start_http(_pool_name(sender))


def _on_process_init(**_: object) -> None:
    # A forked child closes its inherited copy of the socket; the solo pool sends this signal
    # in the main process itself, which keeps serving.
    if _serving.server is not None and os.getpid() != _serving.pid:
        _serving.server.socket.close()


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
    if _serving.server is not None and os.getpid() == _serving.pid:
        _serving.server.shutdown()
        _serving.server.server_close()


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
