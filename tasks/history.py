"""The worker's lines in the history: each delivery attempt, appended to the Redis outbox.

Best effort by design: the outbox feeds the history, never delivery, so a failed append is
logged and the send goes on (``contract.outbox``; docs/history.md).
"""

from __future__ import annotations

import logging
import uuid

import redis

from contract import outbox
from contract.outbox import AttemptOutcome, NotificationStatus

log = logging.getLogger(__name__)


def _append(client: redis.Redis, record: outbox.Record) -> None:
    try:
        outbox.append(client, record)
    except redis.RedisError as exc:
        log.warning("outbox append failed (history only, delivery goes on): %r", exc)


def attempt_started(client: redis.Redis, notification_id: str) -> str:
    """Record that an attempt starts now; returns the attempt's id for its outcome."""
    attempt_id = uuid.uuid4().hex
    _append(client, outbox.attempt(notification_id, attempt_id, AttemptOutcome.STARTED))
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
