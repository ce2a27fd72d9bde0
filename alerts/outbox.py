"""The outbox: one Redis stream of what happened to alerts and their notifications.

Every ack, unack, reject, reminder and escalation step is appended to ``klaxon:outbox``
by the same Lua script that changes the alert (``alerts.acks``, ``alerts.followups``), so
the stream never misses a change and never holds one that did not happen; every muted
notification is appended by the mute stage or the worker (``alerts.muting.records``). A
recorder reads it into a SQL history; the stream is its hand-off, not the source of truth.

This module owns the stream: its name, its cap and the record format, for Python
(``append``) and for Lua (``LUA_APPEND``). Each entry has one field, ``record``: a JSON
object with ``kind`` (an ``OutboxKind``) and ``at`` (ISO 8601, UTC), plus

- ack / unack / reject: ``alert_id``, ``rule_id``, ``by``, ``comment`` or ``reason``,
  ``state`` (the alert's new state);
- reminder / escalation: ``alert_id``, ``rule_id``, ``by`` ("klaxon"), and ``reminder``
  or ``escalation`` (the number);
- notification (muted): ``id``, ``rule_id``, ``channel``, ``transition``, ``status``,
  ``reason``, ``ref``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import redis

from contract.redis_replies import text_fields

OUTBOX_KEY = "klaxon:outbox"
# Approximate cap (XADD MAXLEN ~): a recorder that falls this far behind loses the oldest.
OUTBOX_MAXLEN = 100_000
RECORD_FIELD = "record"

# Prepended to a script that appends: outbox_append(KEYS[i], maxlen, {kind = ..., ...}).
LUA_APPEND = """
local function outbox_append(stream, maxlen, record)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'record', cjson.encode(record))
end
"""


class OutboxKind(StrEnum):
    ACK = "ack"
    UNACK = "unack"
    REJECT = "reject"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    NOTIFICATION = "notification"  # a muted one (alerts.muting)


def outbox_time(seconds: float) -> str:
    """The ``at`` of a record: ``seconds`` since the epoch as ISO 8601, UTC."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def append(client: redis.Redis | redis.client.Pipeline, record: Mapping[str, object]) -> None:
    """Append one record (with its ``kind`` and ``at``), on a client or into a pipeline."""
    client.xadd(
        OUTBOX_KEY,
        {RECORD_FIELD: json.dumps(record, separators=(",", ":"))},
        maxlen=OUTBOX_MAXLEN,
        approximate=True,
    )


def read_outbox(client: redis.Redis, count: int = 1000) -> list[dict[str, Any]]:
    """The oldest ``count`` records, decoded (for the CLI and tests)."""
    entries = client.xrange(OUTBOX_KEY, count=count)
    if not isinstance(entries, list):
        raise TypeError(f"expected a list reply from XRANGE, got {type(entries).__name__}")
    records: list[dict[str, Any]] = []
    for _, fields in entries:
        record = json.loads(text_fields(fields)[RECORD_FIELD])
        if not isinstance(record, dict):
            raise TypeError(f"expected a JSON object in an outbox record, got {record!r}")
        records.append(record)
    return records
