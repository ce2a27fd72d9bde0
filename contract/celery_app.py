"""The Celery app: Redis broker and result backend, late acks, one task per channel queue."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from contract.queues import SWEEP_QUEUE, SWEEP_TASK, queue_for
from contract.settings import Settings

# A worker that dies (SIGKILL, OOM, power loss) leaves the messages it was running in
# kombu's ``unacked`` hash; any live worker puts those older than the visibility timeout back
# on their queue, when it starts consuming and then every RESTORE_INTERVAL_SECONDS. So a
# crashed worker's notification is taken again at most ``settings.visibility_timeout`` +
# RESTORE_INTERVAL_SECONDS after it was taken (see docs/operations.md). Nothing waits in the
# unacked hash: retries wait in the delayed set (tasks.delayed), so the timeout only has to
# exceed the longest single send (channel timeouts are ~10 s).
RESTORE_INTERVAL_SECONDS = 5
# kombu scans the unacked index under a Redis lock; if a worker dies holding it, the next
# scan waits this long (kombu's default is 5 minutes).
RESTORE_LOCK_SECONDS = 30


def make_app(settings: Settings, include: Sequence[str] = ()) -> Celery:
    """A Celery app with Klaxon's settings.

    The bridge and the sweep publish through an app with no tasks (``include`` empty): it
    shapes messages exactly as the workers' app expects them. Workers pass the modules
    that define their tasks (``tasks.app_instance``).
    """
    app = Celery(
        "klaxon",
        broker=settings.redis_url,
        backend=settings.redis_url,
        include=list(include),
        # Task events as Flower needs them: no task-received/task-started (contract.task_events).
        events="contract.task_events:OutcomeEvents",
    )
    transport = {
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": RESTORE_INTERVAL_SECONDS,
        # Scan on every tick (kombu's default scans every 10th: every 100 s).
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": RESTORE_LOCK_SECONDS,
    }
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # A task is acknowledged after it ran, and handed back if its worker process dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # The bridge must not subscribe to results; failures are still stored for Flower.
        task_ignore_result=True,
        task_store_errors_even_if_ignored=True,
        result_expires=7 * 24 * 3600,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        # Flower sees sends only if the publisher emits task-sent events.
        task_send_sent_event=True,
        worker_send_task_events=True,
        # Off: with task_ignore_result Celery never stored STARTED anyway, and Flower takes
        # a task's state from its events, not from the result backend.
        task_track_started=False,
        task_default_queue=queue_for("default"),
        worker_hijack_root_logger=False,
        enable_utc=True,
        task_routes={SWEEP_TASK: {"queue": SWEEP_QUEUE}},
        beat_schedule=sweep_schedule(settings.sweep_interval),
    )
    return app


def sweep_schedule(interval: float) -> dict[str, dict[str, object]]:
    """Celery beat's schedule: the no-data sweep every ``interval`` seconds."""
    return {
        "no-data-sweep": {
            "task": SWEEP_TASK,
            "schedule": interval,
            # A sweep not started within one interval is superseded by the next one.
            "options": {"queue": SWEEP_QUEUE, "expires": interval},
        }
    }
