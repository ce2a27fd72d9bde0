"""Read the test Redis's outbox as the recorder decodes it (``contract.outbox.Record``)."""

from __future__ import annotations

import redis

from contract.outbox import OUTBOX_STREAM, Record


def read_outbox(client: redis.Redis, count: int = 10_000) -> list[Record]:
    """The oldest ``count`` entries, decoded, in stream order."""
    entries = client.xrange(OUTBOX_STREAM, count=count)
    if not isinstance(entries, list):
        raise TypeError(f"expected a list reply from XRANGE, got {type(entries).__name__}")
    return [Record.from_fields(fields) for _, fields in entries]


def notification_records(client: redis.Redis, status: str | None = None) -> list[Record]:
    """The notification entries (all of them, or those with ``status``), in stream order."""
    return [
        record
        for record in read_outbox(client)
        if record.kind == "notification" and status in (None, record.data.get("status"))
    ]
