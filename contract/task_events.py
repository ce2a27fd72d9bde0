"""Task events as Flower needs them: what happened to a task, not each step on the way.

A worker started with ``-E`` sends, per task, ``task-received`` (the consumer took it),
``task-started`` (the pool began it) and one outcome (``task-succeeded``, ``task-failed``,
``task-retried``). Flower builds a task's state from whatever events it sees: the
publisher's ``task-sent`` shows the task PENDING, and the outcome carries the state, the
worker's hostname, the runtime, the exception and the traceback. The two progress events
add only the RECEIVED/STARTED states and their timestamps while a send is in flight, and
cost the worker about as much CPU as the send itself (docs/performance.md), so the
dispatcher leaves them out. What an operator sees instead: docs/operations.md.
"""

from __future__ import annotations

from typing import Any

from celery.app.events import Events
from celery.events.dispatcher import EventDispatcher

# Progress events a worker does not send; every other event (task outcomes, worker-*
# heartbeats, task-sent from publishers) goes out as Celery sends it.
SKIPPED_EVENTS = frozenset({"task-received", "task-started"})


class OutcomeDispatcher(EventDispatcher):  # type: ignore[misc]  # celery: untyped
    """Celery's event dispatcher without the per-task progress events."""

    def send(self, type: str, *args: Any, **fields: Any) -> Any:
        if type in SKIPPED_EVENTS:
            return None
        return super().send(type, *args, **fields)


class OutcomeEvents(Events):  # type: ignore[misc]  # celery: untyped
    """``app.events`` whose ``Dispatcher`` is the ``OutcomeDispatcher``."""

    dispatcher_cls = f"{__name__}:OutcomeDispatcher"
