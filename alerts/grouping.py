"""Open groups of a grouped rule in Redis: add matches, claim a window when it is due.

A group (rule, mode, key) is a hash (window start, due time, count, group fields, the first
match's source), a list of its first ``max_items`` item lines and the identities of the
matches counted in this window and the one before (a replayed batch adds nothing). Every
group waiting for its due time is in one sorted set. Claiming a due window moves it, in
one Lua step, to a pending record keyed by its window start and opens the next window; the
flusher publishes pending records and deletes them only once published. So a crash
between claim and publish loses nothing (the next flush publishes it), and two flushers
publishing the same record enqueue the same task ids, which the workers' ledger sends
once (docs/design.md, invariant 2). Everything survives a restart of every process:
it is all in Redis.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from contract.redis_replies import text, text_fields, texts

PREFIX = "klaxon:group"
DUE = f"{PREFIX}s:due"
PENDING = f"{PREFIX}s:pending"
# The longest a group's identities outlive its last match (a group left open by a crash).
SEEN_TTL_SECONDS = 24 * 3600

_ADD = """
local group, items, seen, due, previous = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, wait, max_items = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', group) == 0 then
  redis.call('HSET', group, 'start', ARGV[1], 'due', now + wait, 'count', 0,
             'fields', ARGV[5], 'source', ARGV[6])
  redis.call('ZADD', due, now + wait, ARGV[7])
end
local added = 0
local length = redis.call('LLEN', items)
for i = 8, #ARGV, 2 do
  if redis.call('SISMEMBER', previous, ARGV[i]) == 0 and redis.call('SADD', seen, ARGV[i]) == 1 then
    added = added + 1
    if length < max_items then
      redis.call('RPUSH', items, ARGV[i + 1])
      length = length + 1
    end
  end
end
redis.call('HINCRBY', group, 'count', added)
redis.call('EXPIRE', seen, tonumber(ARGV[4]))
return added
"""

_CLAIM = """
local group, items, due, pending = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local seen, previous = KEYS[5], KEYS[6]
local now, interval, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local at = redis.call('HGET', group, 'due')
if not at then
  redis.call('ZREM', due, member)
  return false
end
if tonumber(at) > now then
  redis.call('ZADD', due, at, member)
  return false
end
local count = tonumber(redis.call('HGET', group, 'count'))
if count == 0 then
  -- a quiet interval closes the group: the next match waits ``wait`` again
  redis.call('DEL', group, items, seen, previous)
  redis.call('ZREM', due, member)
  return false
end
local start = redis.call('HGET', group, 'start')
local record = ARGV[4] .. start
redis.call('HSET', record, 'member', member, 'start', start, 'count', count,
           'fields', redis.call('HGET', group, 'fields'),
           'source', redis.call('HGET', group, 'source'),
           'items', cjson.encode(redis.call('LRANGE', items, 0, -1)))
redis.call('SADD', pending, record)
redis.call('DEL', items)
-- The window's identities stay known for one more window: a replay of the batch in hand
-- at a crash comes within it. Older ones are dropped, so the set stays one window long.
if redis.call('EXISTS', seen) == 1 then
  redis.call('RENAME', seen, previous)
else
  redis.call('DEL', previous)
end
redis.call('HSET', group, 'start', ARGV[1], 'due', now + interval, 'count', 0)
redis.call('ZADD', due, now + interval, member)
return record
"""


@dataclass(frozen=True, slots=True)
class GroupId:
    """Which group: a rule, the mode that grouped it ("group" or "storm"), the group key."""

    rule_id: str
    mode: str
    key: str

    @property
    def member(self) -> str:
        return json.dumps([self.rule_id, self.mode, self.key])

    @classmethod
    def from_member(cls, member: str) -> GroupId:
        rule_id, mode, key = json.loads(member)
        return cls(str(rule_id), str(mode), str(key))

    @property
    def redis_key(self) -> str:
        return f"{PREFIX}:{self.member}"


@dataclass(frozen=True, slots=True)
class Item:
    """One match held in a group: its identity (for replays) and its rendered line."""

    identity: str
    line: str


@dataclass(frozen=True, slots=True)
class Addition:
    """The items of one batch for one group, with what the group's first match sets."""

    group: GroupId
    wait: float
    max_items: int
    fields: dict[str, str]
    source: dict[str, object]  # the first match's Source, as a dict
    items: Sequence[Item]


@dataclass(frozen=True, slots=True)
class ClaimedWindow:
    """A window taken out of its group, waiting to be published (then ``done``)."""

    record: str
    group: GroupId
    start: str
    count: int
    fields: dict[str, str]
    source: dict[str, object]
    lines: tuple[str, ...]


class GroupStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._add = client.register_script(_ADD)
        self._claim = client.register_script(_CLAIM)

    def add(self, additions: Sequence[Addition], now: float) -> list[int]:
        """Add each batch's items to its group in one round trip; how many were new each."""
        if not additions:
            return []
        pipe = self.client.pipeline(transaction=False)
        for addition in additions:
            key = addition.group.redis_key
            args: list[str | float | int] = [
                repr(now),
                repr(addition.wait),
                addition.max_items,
                SEEN_TTL_SECONDS,
                json.dumps(addition.fields),
                json.dumps(addition.source),
                addition.group.member,
            ]
            for item in addition.items:
                args += [item.identity, item.line]
            self._add(
                keys=[key, f"{key}:items", f"{key}:seen", DUE, f"{key}:seen-before"],
                args=args,
                client=pipe,
            )
        return [int(str(n)) for n in pipe.execute()]

    def due(self, now: float) -> list[GroupId]:
        """The groups whose window is due at ``now``."""
        members = texts(self.client.zrangebyscore(DUE, "-inf", repr(now)))
        return [GroupId.from_member(m) for m in members]

    def claim(self, group: GroupId, interval: float, now: float) -> bool:
        """Move the group's due window to a pending record; False if none was due."""
        key = group.redis_key
        record = self._claim(
            keys=[key, f"{key}:items", DUE, PENDING, f"{key}:seen", f"{key}:seen-before"],
            args=[repr(now), repr(interval), group.member, f"{key}:window:"],
        )
        return bool(record)

    def pending(self) -> list[ClaimedWindow]:
        """Every claimed window not yet published, oldest window first."""
        windows = []
        for record in texts(self.client.smembers(PENDING)):
            data = text_fields(self.client.hgetall(record))
            if not data:
                self.client.srem(PENDING, record)
                continue
            lines = json.loads(data["items"])
            windows.append(
                ClaimedWindow(
                    record=record,
                    group=GroupId.from_member(data["member"]),
                    start=data["start"],
                    count=int(data["count"]),
                    fields=json.loads(data["fields"]),
                    source=json.loads(data["source"]),
                    # cjson writes an empty Lua table as {}
                    lines=tuple(str(x) for x in lines) if isinstance(lines, list) else (),
                )
            )
        return sorted(windows, key=lambda w: float(w.start))

    def done(self, window: ClaimedWindow) -> None:
        """The window's notifications are enqueued: forget it."""
        pipe = self.client.pipeline(transaction=True)
        pipe.srem(PENDING, window.record)
        pipe.delete(window.record)
        pipe.execute()

    def open_count(self) -> int:
        return int(text(self.client.zcard(DUE)))

    def unpublished(self) -> int:
        """Windows a flush still owes a message: open ones, and claimed ones not yet sent."""
        return self.open_count() + int(text(self.client.scard(PENDING)))


_STORM = """
local state = KEYS[1]
local now, within = tonumber(ARGV[1]), tonumber(ARGV[2])
local threshold, n = tonumber(ARGV[3]), tonumber(ARGV[4])
local bucket = math.floor(now / within)
local s = redis.call('HGETALL', state)
local st = {}
for i = 1, #s, 2 do st[s[i]] = s[i + 1] end
local last = tonumber(st['bucket'] or '-2')
local count = tonumber(st['count'] or '0')
local on = st['on'] == '1'
local switched = 0
if last ~= bucket then
  local previous = 0
  if last == bucket - 1 then previous = count end
  count = 0
  -- back to one message per match once a whole window stayed under the threshold
  if on and previous <= threshold then
    on = false
    switched = -1
  end
end
local individual = 0
if not on then
  individual = math.max(0, math.min(n, threshold - count))
  if count + n > threshold then
    on = true
    if switched == -1 then switched = 0 else switched = 1 end
  end
end
redis.call('HSET', state, 'bucket', bucket, 'count', count + n, 'on', on and '1' or '0')
return {individual, switched}
"""


@dataclass(frozen=True, slots=True)
class StormVerdict:
    """How many of a batch's matches go out one by one; the rest are grouped."""

    individual: int
    switched_on: bool
    switched_off: bool


class StormMeter:
    """A rule's notification rate in fixed windows of ``within``, and whether it storms.

    Fixed windows, not a sliding one: one hash per rule and one step per batch. A storm
    starts when a window passes the threshold and ends at the first match after a whole
    window that stayed under it.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._storm = client.register_script(_STORM)

    def count(
        self, rule_id: str, now: float, within: float, threshold: int, n: int
    ) -> StormVerdict:
        reply = texts(
            self._storm(
                keys=[f"klaxon:storm:{rule_id}"], args=[repr(now), repr(within), threshold, n]
            )
        )
        individual, switched = int(reply[0]), int(reply[1])
        return StormVerdict(individual, switched == 1, switched == -1)
