"""The alerts firing now, as the console shows them: the live alert, its ack record, and
the event it opened on (what its notifications carry, and what silences match)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from alerts.acks import AckBook, AckRecord
from alerts.store import AlertEvent, AlertStore


@dataclass(frozen=True)
class FiringRow:
    alert: AlertEvent
    ack: AckRecord | None
    priority: str
    # The event the alert opened on (its ack record's context): what notifications carry.
    event: Mapping[str, object]

    @property
    def state(self) -> str:
        return self.ack.state.value if self.ack else "open"

    @property
    def camera(self) -> str:
        camera = self.event.get("camera_id")
        return camera if isinstance(camera, str) else ""


def firing_rows(client: redis.Redis) -> list[FiringRow]:
    """Every live alert with its ack record and the event it opened on."""
    active = AlertStore(client).active()
    book = AckBook(client)
    raw = book.fields_of([a.id for a in active])
    rows = []
    for alert, fields in zip(active, raw, strict=True):
        ack = AckRecord.from_fields(alert.id, fields) if fields else None
        rows.append(
            FiringRow(
                alert=alert,
                ack=ack,
                priority=str(alert.metadata.get("priority", "")),
                event=event_of(fields),
            )
        )
    return rows


def event_of(fields: Mapping[str, str]) -> Mapping[str, object]:
    """The event in an ack record's context; {} when it has none (or it is unreadable)."""
    context = fields.get("context", "")
    try:
        event = json.loads(context).get("event", {}) if context else {}
    except (ValueError, AttributeError):
        return {}
    return event if isinstance(event, dict) else {}
