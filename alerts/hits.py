"""Hits: matches of a stateless rule with ``acknowledge: true`` (a hotlist plate, say).

A hit is an alert that never resolves by itself: someone acknowledges it (on it) or
rejects it (a misread, a wrong entry). Each admitted match of such a rule gets an alert
record (``alerts.store``, kind ``hit``), an ack record with its follow-ups
(``alerts.acks``), and an id templates use as ``{alert_id}``, derived from the event and
the rule so that a replay opens nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from alerts.acks import AlertKind, Opening
from alerts.due import first_due
from alerts.store import AlertEvent
from contract.jsonsafe import jsonable_object
from contract.notification import Source
from rules.model import DEFAULT_DEDUP_KEY, Rule
from rules.paths import MISSING, compile_path
from rules.templates import format_value

_HIT_NAMESPACE = uuid.UUID("5d0f8a4e-2c3b-4f7a-8e61-6b6c61786869")
_DEFAULT_KEY = compile_path(DEFAULT_DEDUP_KEY)


def hit_id(source: Source, rule_id: str) -> str:
    """The alert id of ``rule_id``'s hit on the event at ``source``: the same on a replay."""
    return str(uuid.uuid5(_HIT_NAMESPACE, f"{source.identity}\x00{rule_id}"))


def hit_key(rule: Rule, event: Mapping[str, object], source: Source) -> str:
    """What a person reads in a list: the dedup value (a plate), else where it came from."""
    getter = rule.rate_limit.dedup if rule.rate_limit else _DEFAULT_KEY
    value = getter(event)
    return source.identity if value is MISSING or value is None else format_value(value)


@dataclass(frozen=True)
class Hit:
    rule: Rule
    event: Mapping[str, object]  # the event, with a watchlist match's values
    source: Source


def hit_opening(hit: Hit, now: float) -> tuple[Opening, AlertEvent]:
    """The ack record (with its follow-ups) and the alert record of one hit; no Redis.

    Pure, so the pipeline can run it under the event's own failure guard and open every
    hit of the batch in one round trip (``AckBook.open``) afterwards.
    """
    rule, source = hit.rule, hit.source
    alert_id = hit_id(source, rule.id)
    key = hit_key(rule, hit.event, source)
    opening = Opening(
        alert_id=alert_id,
        rule_id=rule.id,
        kind=AlertKind.HIT,
        key=key,
        opened_at=now,
        repeat=rule.repeat,
        due=tuple(first_due(alert_id, now, rule.repeat, [s.after for s in rule.escalation])),
        context={
            "event": jsonable_object(hit.event),
            "values": {"alert_id": alert_id},
        },
    )
    record = AlertEvent(
        id=alert_id,
        rule_id=rule.id,
        device_id=key,
        triggered_at=now,
        current_value=None,
        threshold_value=None,
        operator=None,
        metric=None,
        kind="hit",
        metadata={
            "rule_name": rule.name,
            "priority": rule.priority,
            "topic": source.topic,
            "partition": source.partition,
            "offset": source.offset,
        },
    )
    return opening, record
