"""What every channel module provides, and what the task gives each send."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from klaxon.mapping import MappingReader
from tasks.notification import Notification


class RecipientLedger(Protocol):
    """Remembers which recipients already accepted this notification, across retries."""

    def already_sent(self, recipient: str) -> bool: ...

    def mark_sent(self, recipient: str) -> None: ...


class Channel(Protocol):
    """A configured channel. ``send`` returns nothing and raises a DeliveryError on failure."""

    def send(self, notification: Notification, ledger: RecipientLedger) -> None: ...


@dataclass(frozen=True)
class ChannelSpec:
    """How to read a channel's settings, build it, and render messages for it."""

    name: str
    # Reads ``notifications.<name>`` (env already substituted) into the channel's settings.
    parse_settings: Callable[[MappingReader], Any]
    build: Callable[[Any], Channel]
    # Message variants the bridge renders for this channel, each with its escaping of
    # event values, e.g. {"html": html.escape}.
    variants: Mapping[str, Callable[[str], str]] = field(default_factory=dict)
    # The configured recipients of a multi-recipient channel (email addresses, phone
    # numbers), read from its settings; a rule may address others instead.
    recipients: Callable[[Any], Sequence[str]] | None = None

    @property
    def has_recipients(self) -> bool:
        return self.recipients is not None
