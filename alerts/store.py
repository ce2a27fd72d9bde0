"""Alert events in Redis: active alerts, and a capped history indexed by trigger time.

Writes are idempotent (records keyed by alert id), so a replayed transition rewrites the
same record instead of creating a second one.

    klaxon:alerts:records   hash   id -> JSON record (the seed's AlertEvent fields)
    klaxon:alerts:active    hash   id -> rule id, for alerts not yet resolved
    klaxon:alerts:history   zset   id scored by triggered_at
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

import redis

from contract.jsonsafe import JsonObject
from contract.redis_replies import texts

RECORDS_KEY = "klaxon:alerts:records"
ACTIVE_KEY = "klaxon:alerts:active"
HISTORY_KEY = "klaxon:alerts:history"
HISTORY_LIMIT = 100_000


@dataclass(frozen=True)
class AlertEvent:
    id: str
    rule_id: str
    device_id: str
    triggered_at: float
    current_value: float | None
    threshold_value: float | None
    operator: str | None
    metric: str | None
    kind: str = "threshold"  # threshold | match | no_data | hit (alerts.hits)
    is_resolved: bool = False
    resolved_at: float | None = None
    resolution_value: float | None = None
    metadata: JsonObject = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        return None if self.resolved_at is None else self.resolved_at - self.triggered_at

    def resolved(self, at: float, value: float | None) -> AlertEvent:
        return replace(self, is_resolved=True, resolved_at=at, resolution_value=value)

    def as_json_object(self) -> JsonObject:
        return {**asdict(self), "metadata": dict(self.metadata)}

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> AlertEvent:
        return cls(**json.loads(text))


class AlertStore:
    def __init__(self, client: redis.Redis, history_limit: int = HISTORY_LIMIT) -> None:
        self.client = client
        self.history_limit = history_limit

    def save(self, events: list[AlertEvent]) -> None:
        """Record triggers and resolves (idempotently) in one round trip."""
        if not events:
            return
        pipe = self.client.pipeline()
        for event in events:
            pipe.hset(RECORDS_KEY, event.id, event.to_json())
            pipe.zadd(HISTORY_KEY, {event.id: event.triggered_at})
            if event.is_resolved:
                pipe.hdel(ACTIVE_KEY, event.id)
            else:
                pipe.hset(ACTIVE_KEY, event.id, event.rule_id)
        pipe.execute()
        self._cap()

    def _cap(self) -> None:
        excess = int(self.client.zcard(HISTORY_KEY)) - self.history_limit
        if excess > 0:
            self._delete(texts(self.client.zrange(HISTORY_KEY, 0, excess - 1)))

    def _delete(self, ids: list[str]) -> int:
        if not ids:
            return 0
        pipe = self.client.pipeline()
        pipe.hdel(RECORDS_KEY, *ids)
        pipe.zrem(HISTORY_KEY, *ids)
        pipe.hdel(ACTIVE_KEY, *ids)
        removed, _, _ = pipe.execute()
        return int(removed)

    def get(self, alert_id: str) -> AlertEvent | None:
        raw = self.client.hget(RECORDS_KEY, alert_id)
        return AlertEvent.from_json(raw) if raw else None

    def get_many(self, ids: list[str]) -> list[AlertEvent]:
        if not ids:
            return []
        raws = self.client.hmget(RECORDS_KEY, ids)
        return [AlertEvent.from_json(r) for r in raws if r]

    def active(self) -> list[AlertEvent]:
        ids = texts(self.client.hkeys(ACTIVE_KEY))
        return sorted(self.get_many(ids), key=lambda e: e.triggered_at)

    def history(self, since: float | None = None) -> Iterator[AlertEvent]:
        """Alert events triggered at or after ``since``, oldest first, in pages."""
        start: float | str = "-inf" if since is None else since
        page = 500
        offset = 0
        while True:
            ids = self.client.zrangebyscore(HISTORY_KEY, start, "+inf", start=offset, num=page)
            if not ids:
                return
            yield from self.get_many(texts(ids))
            offset += page

    def cleanup(self, older_than: float) -> int:
        """Delete resolved events triggered before ``older_than``; active ones stay."""
        ids = texts(self.client.zrangebyscore(HISTORY_KEY, "-inf", older_than))
        active = set(texts(self.client.hkeys(ACTIVE_KEY)))
        return self._delete([i for i in ids if i not in active])
