"""The Celery app: Redis broker and result backend, late acks, one task per channel queue."""

from __future__ import annotations

import os
from collections.abc import Sequence

from celery import Celery

from contract.queues import SWEEP_QUEUE, SWEEP_TASK, queue_for
from contract.settings import Settings

# kombu's Redis transport redelivers a message that a worker has held unacknowledged for
# longer than this. Retries with a countdown are held that way, so the largest countdown
# (contract.retry_policy.MAX_COUNTDOWN_SECONDS) stays well below it. A worker killed with SIGKILL
# leaves its messages unacknowledged: they come back after this many seconds.
VISIBILITY_TIMEOUT = int(os.environ.get("KLAXON_VISIBILITY_TIMEOUT", "3600"))

# Seconds between no-data sweeps; ``klaxon beat --interval`` overrides it (the seed's flag).
SWEEP_INTERVAL = float(os.environ.get("KLAXON_SWEEP_INTERVAL", "30"))


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
    )
    transport = {"visibility_timeout": VISIBILITY_TIMEOUT}
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
        task_track_started=True,
        task_default_queue=queue_for("default"),
        worker_hijack_root_logger=False,
        enable_utc=True,
        task_routes={SWEEP_TASK: {"queue": SWEEP_QUEUE}},
        beat_schedule=sweep_schedule(SWEEP_INTERVAL),
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
