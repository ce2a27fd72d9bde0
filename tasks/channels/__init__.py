"""The channel registry: one explicit name -> module mapping, nothing discovered by magic."""

from __future__ import annotations

from tasks.channels import apprise, email, ntfy, pushover, slack, sms, webhook
from tasks.channels.base import Channel, ChannelSpec, RecipientLedger
from tasks.channels.errors import DeliveryError, PermanentError, Reason, TransientError

CHANNELS: dict[str, ChannelSpec] = {
    "apprise": apprise.SPEC,
    "email": email.SPEC,
    "ntfy": ntfy.SPEC,
    "pushover": pushover.SPEC,
    "slack": slack.SPEC,
    "sms": sms.SPEC,
    "webhook": webhook.SPEC,
}

__all__ = [
    "CHANNELS",
    "Channel",
    "ChannelSpec",
    "DeliveryError",
    "PermanentError",
    "Reason",
    "RecipientLedger",
    "TransientError",
]
