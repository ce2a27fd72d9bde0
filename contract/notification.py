"""The payload of one notification task: what to say, on which channel, never how to log in.

The bridge renders everything (invariant: workers are render-free) and the task carries
only this JSON-safe record; credentials live in the worker's channel settings
(docs/design.md, invariant 6).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from contract.jsonsafe import Json, JsonObject


class TransitionKind(StrEnum):
    """What happened to a rule's alert, as notifications, alert events and Lua name it.

    str-valued: payloads, task ids and the lifecycle script's replies carry the same text
    as before there was an enum. Stateless rules only ever ``MATCH``.
    """

    MATCH = "match"
    TRIGGER = "trigger"
    RESOLVE = "resolve"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    NO_DATA = "no_data"
    NO_DATA_RESOLVE = "no_data_resolve"
    # A range rule's alert moving to a higher or a lower level (alerts.levels).
    ESCALATE = "escalate"
    DEESCALATE = "deescalate"
    # A hand-sent test notification (``klaxon notify test``).
    TEST = "test"
    # Muting (alerts.muting): a silence ended while an alert it covered still fires; the
    # end of a mute interval summarises what it held back (catch_up).
    SILENCE_ENDED = "silence_ended"
    CATCH_UP = "catch_up"


_NAMESPACE = uuid.UUID("6f1c1d0e-8a1b-4c55-9a53-6b6c61786f6e")


def notification_id(
    topic: str,
    partition: int,
    offset: int,
    rule_id: str,
    channel: str,
    transition: TransitionKind = TransitionKind.MATCH,
) -> str:
    """The task id of a (event, rule, channel, transition): the same on every replay.

    Deterministic ids are what make a replay harmless: the worker's sent-marker is keyed
    on this id, so an event enqueued twice is still sent once.
    """
    name = f"{topic}\x00{partition}\x00{offset}\x00{rule_id}\x00{channel}\x00{transition}"
    return str(uuid.uuid5(_NAMESPACE, name))


def group_notification_id(rule_id: str, group_key: str, window_start: str, channel: str) -> str:
    """The task id of one grouped message: the same for every flush of the same window.

    A window claimed twice (two flushers, or a flush replayed after a crash) is enqueued
    under the same id, so the worker's sent-marker sends it once.
    """
    name = f"group\x00{rule_id}\x00{group_key}\x00{window_start}\x00{channel}"
    return str(uuid.uuid5(_NAMESPACE, name))


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
    event: JsonObject
    matched_at: str
    source: Source
    transition: TransitionKind = TransitionKind.MATCH
    # A rule may address other recipients than the channel's defaults (email, SMS).
    recipients: list[str] | None = None
    # The message rendered with a channel's escaping, e.g. {"html": ...} or {"slack": ...}.
    variants: dict[str, str] = field(default_factory=dict)
    # Lifecycle details for threshold alerts (current value, threshold, how long it fired).
    alert: JsonObject | None = None
    # Set on the copy a worker sends through a channel's fallback (tasks.fallback): the id
    # of the dead-lettered original. A fallback never falls back again.
    fallback_of: str | None = None
    # One-click links for this notification's alert (contract.ack_links): "ack" and
    # "silence" URLs, signed by the bridge; empty when links are off or there is no alert.
    links: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Json]:
        data: dict[str, Json] = asdict(self)
        # The plain text (str() of a StrEnum is exactly a str), so that every encoder (json,
        # kombu, Celery's saferepr) writes it as before the enum.
        data["transition"] = str(self.transition)
        if not self.links:
            # Rolling upgrades: a worker from before links refuses a payload with the key,
            # so a notification without links is written exactly as before them.
            del data["links"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:  # Any: a task's decoded JSON
        # Keys this version does not know are dropped, silently: in a rolling upgrade the
        # bridge goes first, and a newer bridge's field must not fail an older worker's
        # task (the field is lost on this worker only; the message itself is rendered).
        values = {key: value for key, value in data.items() if key in _FIELDS}
        values["source"] = Source(**values["source"])
        if "transition" in values:
            values["transition"] = TransitionKind(values["transition"])
        return cls(**values)


_FIELDS = frozenset(f.name for f in fields(Notification))
