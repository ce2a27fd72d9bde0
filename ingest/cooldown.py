"""Per-rule cooldowns in Redis, keyed by (rule id, dedup value), that a replay can pass.

``SET key identity NX EX ttl``: the first event takes the key and is allowed. A later event
finds the key and is suppressed, unless the key holds its own identity: then it is the same
event replayed after a crash (docs/design.md, invariant 3), and it is allowed again. Its
tasks carry the same ids as before, so the workers' sent-ledger still sends it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis

KEY_PREFIX = "klaxon:cooldown"

_TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 2 end
return 0
"""


@dataclass(frozen=True)
class CooldownRequest:
    rule_id: str
    dedup_value: str
    identity: str  # topic/partition/offset of the event
    seconds: int

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}:{self.rule_id}:{self.dedup_value}"


class Cooldowns:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._take = client.register_script(_TAKE)

    def allow(self, requests: Sequence[CooldownRequest]) -> list[bool]:
        """For each request in order, whether it may alert; one round trip for the lot."""
        if not requests:
            return []
        pipe = self.client.pipeline(transaction=False)
        for request in requests:
            self._take(keys=[request.key], args=[request.identity, request.seconds], client=pipe)
        return [result != 0 for result in pipe.execute()]
