"""The outbox: one Redis stream of what people and the sweep did to alerts.

Every ack, unack, reject, reminder and escalation step is appended to ``klaxon:outbox``
(``XADD MAXLEN ~``) by the same Lua script that changes the alert, so the stream never
misses a change and never holds one that did not happen. A recorder reads it into a SQL
history; the stream is its hand-off, not the source of truth (the alert record is).

Entry fields (all text): ``kind`` (ack | unack | reject | reminder | escalation),
``alert_id``, ``rule_id``, ``by``, ``comment`` (ack/unack) or ``reason`` (reject),
``at`` (epoch seconds), and ``step`` / ``reminder`` for the sweep's entries.
"""

from __future__ import annotations

from enum import StrEnum

import redis

from contract.redis_replies import text_fields

OUTBOX_KEY = "klaxon:outbox"
# Approximate cap (XADD MAXLEN ~): a recorder that falls this far behind loses the oldest.
OUTBOX_MAXLEN = 100_000


class OutboxKind(StrEnum):
    ACK = "ack"
    UNACK = "unack"
    REJECT = "reject"
    REMINDER = "reminder"
    ESCALATION = "escalation"


def read_outbox(client: redis.Redis, count: int = 1000) -> list[dict[str, str]]:
    """The oldest ``count`` entries, each as its fields (for the CLI and tests)."""
    entries = client.xrange(OUTBOX_KEY, count=count)
    if not isinstance(entries, list):
        raise TypeError(f"expected a list reply from XRANGE, got {type(entries).__name__}")
    return [text_fields(fields) for _, fields in entries]
