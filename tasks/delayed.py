"""Retries waiting for their time, outside the broker's unacknowledged set.

kombu's Redis transport redelivers any message a worker holds unacknowledged for longer
than the visibility timeout, and Celery holds a message with an ETA unacknowledged until
then. Parking waits there would force a visibility timeout longer than the longest wait,
and a crashed worker's message would then stay lost for that long. So a retry's message,
fully encoded as kombu would push it, waits here instead:

- ``klaxon:delayed`` is a sorted set; the score is the due time (the message's ETA), the
  member is ``<list key>\\n<kombu message JSON>`` (the JSON never holds a raw newline);
- ``release`` moves every due member back onto its list in one Lua script (ZRANGEBYSCORE,
  RPUSH, ZREM), so a crash can lose nothing between the two. RPUSH puts it at the end a
  worker's BRPOP takes next, as kombu does when it restores a message: a retry has waited
  its turn already.

Every worker runs ``release`` every ``PUMP_INTERVAL_SECONDS`` (``tasks.retry_pump``); the
periodic sweep runs it too, as a backstop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from contract.redis_replies import text_scores

DELAYED_KEY = "klaxon:delayed"
RELEASE_BATCH = 500

_RELEASE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  local cut = string.find(member, '\\n', 1, true)
  redis.call('RPUSH', string.sub(member, 1, cut - 1), string.sub(member, cut + 1))
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""


@dataclass(frozen=True)
class Parked:
    """One waiting message: the list it goes back to, its JSON, and when."""

    list_key: str
    message: str
    due: float


class DelayedSet:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._release = client.register_script(_RELEASE)

    def park(self, list_key: str, message: str, due: float) -> None:
        if "\n" in list_key or "\n" in message:
            raise ValueError(f"cannot park a message for {list_key!r}: it holds a newline")
        self.client.zadd(DELAYED_KEY, {f"{list_key}\n{message}": due})

    def release(self, now: float | None = None) -> int:
        """Put every message due at ``now`` back on its queue; return how many moved."""
        now = time.time() if now is None else now
        moved = 0
        while True:
            batch = int(self._release(keys=[DELAYED_KEY], args=[repr(now), RELEASE_BATCH]))
            moved += batch
            if batch < RELEASE_BATCH:
                return moved

    def waiting(self) -> list[Parked]:
        """Every parked message, soonest first."""
        entries = self.client.zrange(DELAYED_KEY, 0, -1, withscores=True)
        parked = []
        for member, due in text_scores(entries):
            list_key, _, message = member.partition("\n")
            parked.append(Parked(list_key, message, due))
        return parked

    def count(self) -> int:
        return int(self.client.zcard(DELAYED_KEY))
