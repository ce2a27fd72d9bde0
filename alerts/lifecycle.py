"""The lifecycle of one (rule, key): ok -> [pending ->] firing -> ok, decided atomically in Redis.

Every observation of a stateful rule (a reading of a device's metric, an event of a camera)
goes through one Lua script that reads the state, decides the transition and writes the
new state in one step, so two bridges in one consumer group can never both trigger.

Replays: the state remembers the last event applied (topic/partition/offset). An event at
or before that offset on the same partition is a replay after a crash; it changes nothing
and gets back the transition it caused the first time (from a short log), so its
notifications are enqueued again under the same ids and the sent-ledger sends them once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from contract.notification import TransitionKind
from contract.redis_replies import text, text_fields, texts

STATE_PREFIX = "klaxon:state"
# Transitions remembered per key for replays: a replay spans at most one uncommitted batch.
REPLAY_LOG_LENGTH = 64
STATE_TTL_SECONDS = 90 * 24 * 3600

_OBSERVE = """
local key, log_key, log_order, seen_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local holds, clears = ARGV[1] == '1', ARGV[2] == '1'
local ts, for_s = tonumber(ARGV[3]), tonumber(ARGV[4])
local tp, offset, identity = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local new_alert_id, value, received, ttl = ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])

local s = redis.call('HGETALL', key)
local st = {}
for i = 1, #s, 2 do st[s[i]] = s[i + 1] end

if st['tp'] == tp and st['offset'] and offset <= tonumber(st['offset']) then
  local logged = redis.call('HGET', log_key, identity) or ''
  local nd_logged = redis.call('HGET', log_key, identity .. '#nd') or ''
  return {'replay', logged, nd_logged}
end

redis.call('ZADD', seen_key, received, ARGV[13])
local nd = ''
if st['no_data_alert'] then
  nd = cjson.encode({alert_id = st['no_data_alert'], triggered_at = tonumber(st['no_data_since'])})
  redis.call('HDEL', key, 'no_data_alert', 'no_data_since')
  redis.call('HSET', log_key, identity .. '#nd', nd)
end

local state = st['state'] or 'ok'
local result = 'none'
local fields = {'tp', tp, 'offset', offset, 'last_seen', received, 'last_value', value}
if state == 'ok' then
  if holds and for_s > 0 then
    result = 'pending'
    table.insert(fields, 'state'); table.insert(fields, 'pending')
    table.insert(fields, 'pending_since'); table.insert(fields, ts)
  elseif holds then
    result = 'trigger'
  end
elseif state == 'pending' then
  if holds then
    if ts - tonumber(st['pending_since']) >= for_s then result = 'trigger' end
  else
    result = 'pending_cancelled'
    table.insert(fields, 'state'); table.insert(fields, 'ok')
    redis.call('HDEL', key, 'pending_since')
  end
elseif state == 'firing' then
  if clears then result = 'resolve' end
end

local out = ''
if result == 'trigger' then
  table.insert(fields, 'state'); table.insert(fields, 'firing')
  table.insert(fields, 'alert_id'); table.insert(fields, new_alert_id)
  table.insert(fields, 'triggered_at'); table.insert(fields, ts)
  table.insert(fields, 'trigger_value'); table.insert(fields, value)
  redis.call('HDEL', key, 'pending_since')
  out = cjson.encode({alert_id = new_alert_id, triggered_at = ts})
elseif result == 'resolve' then
  out = cjson.encode({alert_id = st['alert_id'], triggered_at = tonumber(st['triggered_at']),
                      trigger_value = st['trigger_value']})
  table.insert(fields, 'state'); table.insert(fields, 'ok')
  redis.call('HDEL', key, 'alert_id', 'triggered_at', 'trigger_value', 'last_notified')
end
redis.call('HSET', key, unpack(fields))
redis.call('EXPIRE', key, ttl)
if result == 'trigger' or result == 'resolve' then
  local logged = result .. '|' .. out
  redis.call('HSET', log_key, identity, logged)
  redis.call('LPUSH', log_order, identity)
  local evicted = redis.call('LRANGE', log_order, tonumber(ARGV[12]), -1)
  for _, old in ipairs(evicted) do redis.call('HDEL', log_key, old) end
  redis.call('LTRIM', log_order, 0, tonumber(ARGV[12]) - 1)
  redis.call('EXPIRE', log_key, ttl)
  redis.call('EXPIRE', log_order, ttl)
  return {result, logged, nd}
end
return {result, '', nd}
"""

# The sweep: raise a no-data alert for a key not seen since the cutoff, once.
_NO_DATA = """
local key, seen_key = KEYS[1], KEYS[2]
local cutoff, alert_id, member = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local seen = tonumber(redis.call('HGET', key, 'last_seen') or '0')
if seen == 0 then
  redis.call('ZREM', seen_key, member)
  return ''
end
if seen >= cutoff or redis.call('HEXISTS', key, 'no_data_alert') == 1 then return '' end
redis.call('HSET', key, 'no_data_alert', alert_id, 'no_data_since', seen)
return cjson.encode({alert_id = alert_id, triggered_at = seen})
"""

# What the observe script may answer that notifies: the lifecycle's own transitions.
# Reminders are not among them: the sweep sends those on the wall clock (alerts.followups).
NOTIFYING = frozenset({TransitionKind.TRIGGER, TransitionKind.RESOLVE})


@dataclass(frozen=True)
class Observation:
    """One evaluation of a stateful rule for one key."""

    rule_id: str
    key: str
    holds: bool
    clears: bool
    at: float  # event time, seconds: pending intervals are measured on it
    topic: str
    partition: int
    offset: int
    value: float | None = None


@dataclass(frozen=True)
class Transition:
    kind: TransitionKind  # trigger | resolve, no_data | no_data_resolve
    alert_id: str
    triggered_at: float
    trigger_value: float | None = None


def state_key(rule_id: str, key: str) -> str:
    return f"{STATE_PREFIX}:{rule_id}:{key}"


def seen_key(rule_id: str) -> str:
    """Sorted set of a rule's keys by the wall-clock time of their last reading."""
    return f"{STATE_PREFIX}:{rule_id}:last-seen"


class Lifecycle:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._observe = client.register_script(_OBSERVE)
        self._no_data = client.register_script(_NO_DATA)

    def observe(
        self,
        observations: list[tuple[Observation, float, str]],
        received_at: float,
    ) -> list[list[Transition]]:
        """Apply observations (with for_seconds and a new alert id) in order.

        One round trip for the lot; the scripts run one after another in Redis, so two
        observations of one key in a batch see each other's effects.
        """
        if not observations:
            return []
        pipe = self.client.pipeline(transaction=False)
        for obs, for_seconds, new_alert_id in observations:
            key = state_key(obs.rule_id, obs.key)
            self._observe(
                keys=[key, f"{key}:log", f"{key}:log-order", seen_key(obs.rule_id)],
                args=[
                    "1" if obs.holds else "0",
                    "1" if obs.clears else "0",
                    repr(obs.at),
                    repr(for_seconds),
                    f"{obs.topic}/{obs.partition}",
                    obs.offset,
                    f"{obs.topic}/{obs.partition}/{obs.offset}",
                    new_alert_id,
                    "" if obs.value is None else repr(obs.value),
                    repr(received_at),
                    STATE_TTL_SECONDS,
                    REPLAY_LOG_LENGTH,
                    obs.key,
                ],
                client=pipe,
            )
        return [_transitions(result) for result in pipe.execute()]

    def stale(self, rule_id: str, cutoff: float) -> list[str]:
        """Keys of ``rule_id`` last seen before ``cutoff`` (wall clock)."""
        return texts(self.client.zrangebyscore(seen_key(rule_id), "-inf", f"({cutoff}"))

    def raise_no_data(
        self, rule_id: str, key: str, cutoff: float, alert_id: str
    ) -> Transition | None:
        """Mark ``key`` silent since its last reading, unless a reading came or it already is."""
        skey = state_key(rule_id, key)
        raw = self._no_data(keys=[skey, seen_key(rule_id)], args=[repr(cutoff), alert_id, key])
        text = raw.decode() if isinstance(raw, bytes) else str(raw or "")
        if not text:
            return None
        detail = json.loads(text)
        return Transition(
            TransitionKind.NO_DATA, str(detail["alert_id"]), float(detail["triggered_at"])
        )

    def state(self, rule_id: str, key: str) -> dict[str, str]:
        return text_fields(self.client.hgetall(state_key(rule_id, key)))


def _transitions(result: Sequence[object]) -> list[Transition]:
    """The transitions one observation caused: a lifecycle one, and/or a no-data resolve."""
    kind, logged, no_data = text(result[0]), text(result[1]), text(result[2])
    found: list[Transition] = []
    if kind == "replay" and logged:
        kind, _, logged = logged.partition("|")
    elif logged:
        logged = logged.partition("|")[2]
    if kind in NOTIFYING and logged:
        detail = json.loads(logged)
        trigger_value = detail.get("trigger_value")
        found.append(
            Transition(
                kind=TransitionKind(kind),
                alert_id=str(detail["alert_id"]),
                triggered_at=float(detail["triggered_at"]),
                trigger_value=float(trigger_value) if trigger_value not in (None, "") else None,
            )
        )
    if no_data:
        detail = json.loads(no_data)
        found.append(
            Transition(
                TransitionKind.NO_DATA_RESOLVE,
                str(detail["alert_id"]),
                float(detail["triggered_at"]),
            )
        )
    return found
