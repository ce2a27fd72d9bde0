"""What the bridge and the config loader know of a channel: its settings and its escaping."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contract.mapping import MappingReader
from contract.notification import Notification
from contract.throttle import Throttle


@dataclass(frozen=True)
class SettingsSpec:
    """How to read a channel's settings and render messages for it; never how to send."""

    name: str
    # Reads ``notifications.<name>`` (env already substituted) into the channel's settings.
    parse_settings: Callable[[MappingReader], Any]
    # Message variants the bridge renders for this channel, each with its escaping of
    # event values, e.g. {"html": html.escape}.
    variants: Mapping[str, Callable[[str], str]] = field(default_factory=dict)
    # The configured recipients of a multi-recipient channel (email addresses, phone
    # numbers), read from its settings; a rule may address others instead.
    recipients: Callable[[Any], Sequence[str]] | None = None
    # The provider's own rate limit, used when the channel sets no ``throttle``, and what
    # it is counted per (a webhook URL, a sender number): sends that share the scope share
    # one limit. None: the channel's name is the scope.
    default_throttle: Throttle | None = None
    throttle_scope: Callable[[Any], str] | None = None
    # How many units of the provider's rate one message to one recipient costs (SMS
    # segments of the body as sent); None: one.
    units: Callable[[Notification], int] | None = None

    @property
    def has_recipients(self) -> bool:
        return self.recipients is not None
