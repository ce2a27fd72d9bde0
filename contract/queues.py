"""Where notifications wait in Redis: the Celery queues and task names every floor agrees on.

The bridge and the sweep put tasks on these queues; workers consume them; the bridge and
``klaxon status`` read their depths. Task names equal queue names, so ``notify.slack`` is
both the task and the queue that a Slack worker consumes.
"""

from __future__ import annotations

QUEUE_PREFIX = "notify."
# The no-data sweep (and, later, other periodic work) runs as this task on its own queue,
# so that a deployment can give it one small worker.
SWEEP_TASK = "klaxon.sweep_no_data"
SWEEP_QUEUE = "klaxon.sweep"
# Dead letters: a hash of records by notification id (kept by the workers, counted by the
# bridge's gauges and ``klaxon dead``).
DEAD_LETTERS_KEY = "klaxon:dead"


def queue_for(channel: str) -> str:
    """The queue (and task name) of a channel's notifications: ``notify.<channel>``."""
    return f"{QUEUE_PREFIX}{channel}"
