"""A dead letter's second chance: one send through the channel's ``fallback`` channel.

``notifications.sms.fallback: email`` means: a notification dead-lettered on sms is sent
once through email. The copy has an id derived from the original's and the fallback
channel, so a dead letter requeued and dead-lettered again publishes the same id and the
sent-ledger sends it once. The copy is addressed to the fallback channel's own
recipients (an SMS's phone numbers mean nothing to email) and carries ``fallback_of``:
a fallback that fails is dead-lettered on its own channel and goes no further, so a
fallback never chains and two channels that name each other never loop.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from contract.notification import Notification

_NAMESPACE = uuid.UUID("0c8f3d2a-5b1e-4f7a-9d6c-66616c6c6261")
# The fallback sent for a task travels with its request, for the worker metrics.
_REQUEST_ATTRIBUTE = "klaxon_fallback"


def fallback_id(original_id: str, channel: str) -> str:
    """The id of the fallback copy of ``original_id`` on ``channel``: the same every time."""
    return str(uuid.uuid5(_NAMESPACE, f"{original_id}\x00{channel}"))


def fallback_copy(notification: Notification, channel: str | None) -> Notification | None:
    """The copy to send through ``channel``; None when there is none or this is a copy."""
    if channel is None or notification.fallback_of is not None or channel == notification.channel:
        return None
    return replace(
        notification,
        id=fallback_id(notification.id, channel),
        channel=channel,
        recipients=None,
        fallback_of=notification.id,
    )


def remember_fallback(request: object, channel: str) -> None:
    setattr(request, _REQUEST_ATTRIBUTE, channel)


def fallback_sent(request: object) -> str | None:
    """The channel a failed task's notification was handed to, if any."""
    found = getattr(request, _REQUEST_ATTRIBUTE, None)
    return found if isinstance(found, str) else None
