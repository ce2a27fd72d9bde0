"""The worker's lines in the history: each delivery attempt, appended to the Redis outbox.

Best effort by design: the outbox feeds the history, never delivery, so a failed append is
logged and the send goes on (``contract.outbox``; docs/history.md).
"""

from __future__ import annotations

import uuid

import redis

from contract import outbox
from contract.notification import Notification
from contract.outbox import AttemptOutcome, NotificationStatus

_GOES_ON = "history only, delivery goes on"


def _append(client: redis.Redis, record: outbox.Record) -> None:
    outbox.append_best_effort(client, [record], _GOES_ON)


def attempt_started(client: redis.Redis, notification: Notification) -> str:
    """Record that an attempt starts now; returns the attempt's id for its outcome.

    The notification's description (rule, channel, recipients) goes with it: not every
    notification passed the bridge's "queued" record (group windows, the sweep's no-data
    alerts and reminders, ``klaxon notify test``, requeued dead letters). The record's key
    is the bridge's, so the two are one row in the history.
    """
    attempt_id = uuid.uuid4().hex
    records = [
        outbox.queued(notification),
        outbox.attempt(notification.id, attempt_id, AttemptOutcome.STARTED),
    ]
    outbox.append_best_effort(client, records, _GOES_ON)
    return attempt_id


def attempt_sent(client: redis.Redis, notification_id: str, attempt_id: str) -> None:
    _append(
        client,
        outbox.attempt(
            notification_id, attempt_id, AttemptOutcome.SENT, status=NotificationStatus.SENT
        ),
    )


def attempt_failed(
    client: redis.Redis,
    notification_id: str,
    attempt_id: str,
    error: str,
    reason: str,
    dead: bool,
) -> None:
    status = NotificationStatus.DEAD if dead else NotificationStatus.RETRYING
    _append(
        client,
        outbox.attempt(
            notification_id,
            attempt_id,
            AttemptOutcome.FAILED,
            status=status,
            error=error,
            reason=reason,
        ),
    )
