"""The payload of one notification task: what to say, on which channel, never how to log in.

The bridge renders everything (invariant: workers are render-free) and the task carries
only this JSON-safe record; credentials live in the worker's channel settings
(docs/design.md, invariant 6).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

# Transitions of a rule's lifecycle that produce a notification. Stateless rules only "match".
TRANSITIONS = ("match", "trigger", "resolve", "reminder", "no_data", "no_data_resolve")

_NAMESPACE = uuid.UUID("6f1c1d0e-8a1b-4c55-9a53-6b6c61786f6e")


def notification_id(
    topic: str, partition: int, offset: int, rule_id: str, channel: str, transition: str = "match"
) -> str:
    """The task id of a (event, rule, channel, transition): the same on every replay.

    Deterministic ids are what make a replay harmless: the worker's sent-marker is keyed
    on this id, so an event enqueued twice is still sent once.
    """
    name = f"{topic}\x00{partition}\x00{offset}\x00{rule_id}\x00{channel}\x00{transition}"
    return str(uuid.uuid5(_NAMESPACE, name))


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Source:
    """Where the event came from: the Kafka coordinates that identify it."""

    topic: str
    partition: int
    offset: int

    @property
    def identity(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True)
class Notification:
    """One message for one channel, rendered by the bridge."""

    id: str
    channel: str
    rule_id: str
    rule_name: str
    priority: str
    message: str
    subject: str
    event: dict[str, Any]
    matched_at: str
    source: Source
    transition: str = "match"
    # A rule may address other recipients than the channel's defaults (email, SMS).
    recipients: list[str] | None = None
    # The message rendered with a channel's escaping, e.g. {"html": ...} or {"slack": ...}.
    variants: dict[str, str] = field(default_factory=dict)
    # Lifecycle details for threshold alerts (current value, threshold, how long it fired).
    alert: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        values = dict(data)
        values["source"] = Source(**values["source"])
        return cls(**values)
