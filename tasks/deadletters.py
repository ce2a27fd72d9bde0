"""Dead letters: notifications that failed permanently or ran out of retries, kept in Redis.

A record holds everything needed to understand and re-send the notification (never a
credential: the payload is what the task carried). ``requeue`` publishes the same task id
again, so the sent-ledger still prevents a second send to recipients that accepted it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

import redis

from contract.ack_links import mask_links, mask_links_in
from contract.queues import DEAD_LETTERS_KEY
from contract.redis_replies import texts

RECORDS_KEY = DEAD_LETTERS_KEY
INDEX_KEY = "klaxon:dead:index"  # sorted set: id -> last failure time
FAILURES_PREFIX = "klaxon:failures"
FAILURES_TTL_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class DeadLetter:
    id: str
    rule_id: str
    channel: str
    recipients_left: list[str]
    message: str
    error: str
    reason: str
    attempts: int
    first_failure_at: float
    last_failure_at: float
    notification: dict[str, object]
    # The channel's fallback that was handed a copy, and the copy's id (tasks.fallback).
    fallback_channel: str | None = None
    fallback_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> DeadLetter:
        return cls(**json.loads(text))

    def masked(self) -> DeadLetter:
        """This letter as shown to a reader (API, console): the token of every ack and
        silence link hidden (contract.ack_links.mask_links).

        A link acks or silences in one click for whoever holds it; someone who may read
        dead letters need not be someone who may ack. The message, the error and every
        string of the stored notification (links, variants, subject, event) are masked;
        the record in Redis is untouched, so a requeue still sends working links.
        """
        return replace(
            self,
            message=mask_links(self.message),
            error=mask_links(self.error),
            notification={key: mask_links_in(value) for key, value in self.notification.items()},
        )


class DeadLetterStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def note_failure(self, notification_id: str, now: float | None = None) -> tuple[int, float]:
        """Count one failed attempt; return (attempts so far, time of the first failure)."""
        now = time.time() if now is None else now
        key = f"{FAILURES_PREFIX}:{notification_id}"
        pipe = self.client.pipeline()
        pipe.hsetnx(key, "first", repr(now))
        pipe.hincrby(key, "attempts", 1)
        pipe.hget(key, "first")
        pipe.expire(key, FAILURES_TTL_SECONDS)
        _, attempts, first, _ = pipe.execute()
        return int(attempts), float(first)

    def failures(self, notification_id: str) -> int:
        """Failed attempts recorded so far (a requeue starts again from 0)."""
        raw = self.client.hget(f"{FAILURES_PREFIX}:{notification_id}", "attempts")
        return int(raw) if raw else 0

    def add(self, letter: DeadLetter) -> None:
        pipe = self.client.pipeline()
        pipe.hset(RECORDS_KEY, letter.id, letter.to_json())
        pipe.zadd(INDEX_KEY, {letter.id: letter.last_failure_at})
        pipe.execute()

    def get(self, notification_id: str) -> DeadLetter | None:
        raw = self.client.hget(RECORDS_KEY, notification_id)
        return DeadLetter.from_json(raw) if raw else None

    def __iter__(self) -> Iterator[DeadLetter]:
        for letter_id in texts(self.client.zrange(INDEX_KEY, 0, -1)):  # oldest first
            letter = self.get(letter_id)
            if letter is not None:
                yield letter

    def remove(self, notification_id: str) -> bool:
        pipe = self.client.pipeline()
        pipe.hdel(RECORDS_KEY, notification_id)
        pipe.zrem(INDEX_KEY, notification_id)
        pipe.delete(f"{FAILURES_PREFIX}:{notification_id}")
        removed, _, _ = pipe.execute()
        return bool(removed)

    def older_than(self, cutoff: float) -> list[str]:
        return texts(self.client.zrangebyscore(INDEX_KEY, "-inf", cutoff))

    def count(self) -> int:
        return int(self.client.zcard(INDEX_KEY))
