"""What every channel module provides, and what the task gives each send."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from contract.channels.spec import SettingsSpec
from contract.mapping import MappingReader
from contract.notification import Notification


class RecipientLedger(Protocol):
    """Remembers which recipients already accepted this notification, across retries."""

    def already_sent(self, recipient: str) -> bool: ...

    def mark_sent(self, recipient: str) -> None: ...


class Channel(Protocol):
    """A configured channel. ``send`` returns nothing and raises a DeliveryError on failure."""

    def send(self, notification: Notification, ledger: RecipientLedger) -> None: ...


@dataclass(frozen=True)
class ChannelSpec:
    """A channel as a worker sees it: its settings (shared with the bridge) and a sender."""

    settings: SettingsSpec
    build: Callable[[Any], Channel]

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def parse_settings(self) -> Callable[[MappingReader], Any]:
        return self.settings.parse_settings

    @property
    def recipients(self) -> Callable[[Any], Sequence[str]] | None:
        return self.settings.recipients
