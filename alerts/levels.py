"""The lifecycle of a leveled alert (a range rule): one alert per (rule, key) that moves
between levels, decided atomically in Redis like alerts.lifecycle.

Levels are ranks 1..n (warning, critical). Per reading and level the rule says whether the
reading breaches the level and whether it clears it (hysteresis). A level is *in effect*
once breached for its own ``for_seconds`` (event time; each level keeps its own pending
start). Then, in one Lua script:

- in effect above the current level: ``trigger`` (from ok, a new alert id) or ``escalate``
  (the same alert, a higher level);
- the current level cleared: step down to the highest lower level not cleared:
  ``deescalate`` (the same alert) or, when none, ``resolve``;
- otherwise ``reminder`` once the current level's ``repeat_interval`` has passed.

The state hash shares its key, ``last_seen`` and ``no_data_alert`` fields with
alerts.lifecycle, so the no-data sweep works on range rules unchanged. Replays are
recognised by offset and answered from a log, exactly as there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from alerts.lifecycle import REPLAY_LOG_LENGTH, STATE_TTL_SECONDS, seen_key, state_key
from contract.notification import TransitionKind
from contract.redis_replies import text

_OBSERVE = """
local key, log_key, log_order, seen = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ts, tp, offset, identity = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local new_alert_id, value, received, ttl = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local log_length, member, n = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11])

local s = redis.call('HGETALL', key)
local st = {}
for i = 1, #s, 2 do st[s[i]] = s[i + 1] end

if st['tp'] == tp and st['offset'] and offset <= tonumber(st['offset']) then
  local logged = redis.call('HGET', log_key, identity) or ''
  local nd_logged = redis.call('HGET', log_key, identity .. '#nd') or ''
  return {'replay', logged, nd_logged}
end

redis.call('ZADD', seen, received, member)
local nd = ''
if st['no_data_alert'] then
  nd = cjson.encode({alert_id = st['no_data_alert'], triggered_at = tonumber(st['no_data_since'])})
  redis.call('HDEL', key, 'no_data_alert', 'no_data_since')
  redis.call('HSET', log_key, identity .. '#nd', nd)
end

local fields = {'tp', tp, 'offset', offset, 'last_seen', received, 'last_value', value}
local breaches, clears, repeats = {}, {}, {}
local in_effect = 0
for i = 1, n do
  local base = 11 + (i - 1) * 4
  breaches[i] = ARGV[base + 1] == '1'
  clears[i] = ARGV[base + 2] == '1'
  local for_s = tonumber(ARGV[base + 3])
  repeats[i] = tonumber(ARGV[base + 4])
  local since = st['since' .. i]
  if breaches[i] then
    if not since then
      since = ts
      table.insert(fields, 'since' .. i); table.insert(fields, ts)
    end
    if ts - tonumber(since) >= for_s then in_effect = i end
  elseif since then
    redis.call('HDEL', key, 'since' .. i)
  end
end

-- A reload may have removed levels: an alert above the top level is at the top level.
local level = math.min(tonumber(st['level'] or '0'), n)
local peak = math.min(tonumber(st['peak'] or '0'), n)
local result, new_level = 'none', level
if in_effect > level then
  new_level = in_effect
  if level == 0 then result = 'trigger' else result = 'escalate' end
elseif level > 0 and clears[level] then
  new_level = 0
  for i = level - 1, 1, -1 do
    if not clears[i] then new_level = i; break end
  end
  if new_level == 0 then result = 'resolve' else result = 'deescalate' end
elseif level > 0 and repeats[level] > 0
    and ts - tonumber(st['last_notified']) >= repeats[level] then
  result = 'reminder'
end

if result == 'trigger' then
  st['alert_id'], st['triggered_at'], st['trigger_value'] = new_alert_id, ts, value
  peak = 0
  table.insert(fields, 'alert_id'); table.insert(fields, new_alert_id)
  table.insert(fields, 'triggered_at'); table.insert(fields, ts)
  table.insert(fields, 'trigger_value'); table.insert(fields, value)
end
if new_level > peak then peak = new_level end
if result ~= 'none' then
  table.insert(fields, 'last_notified'); table.insert(fields, ts)
end
table.insert(fields, 'level'); table.insert(fields, new_level)
table.insert(fields, 'peak'); table.insert(fields, peak)

local out = ''
if result ~= 'none' then
  out = cjson.encode({alert_id = st['alert_id'], triggered_at = tonumber(st['triggered_at']),
                      trigger_value = st['trigger_value'], level = new_level, previous = level,
                      peak = peak})
end
if result == 'resolve' then
  redis.call('HDEL', key, 'alert_id', 'triggered_at', 'trigger_value')
  fields[#fields] = 0  -- the next alert starts from no peak
end
redis.call('HSET', key, unpack(fields))
redis.call('EXPIRE', key, ttl)
if result ~= 'none' then
  local logged = result .. '|' .. out
  redis.call('HSET', log_key, identity, logged)
  redis.call('LPUSH', log_order, identity)
  local evicted = redis.call('LRANGE', log_order, log_length, -1)
  for _, old in ipairs(evicted) do redis.call('HDEL', log_key, old) end
  redis.call('LTRIM', log_order, 0, log_length - 1)
  redis.call('EXPIRE', log_key, ttl)
  redis.call('EXPIRE', log_order, ttl)
  return {result, logged, nd}
end
return {result, '', nd}
"""


@dataclass(frozen=True)
class LevelSpec:
    """What the lifecycle needs of one level for one reading."""

    breached: bool
    cleared: bool
    for_seconds: float
    repeat_interval: float


@dataclass(frozen=True)
class LevelObservation:
    """One reading of a leveled rule for one key."""

    rule_id: str
    key: str
    levels: tuple[LevelSpec, ...]  # by rank, lowest first
    at: float  # event time, seconds
    topic: str
    partition: int
    offset: int
    value: float | None = None


@dataclass(frozen=True)
class LevelTransition:
    """trigger | escalate | deescalate | reminder | resolve, or no_data_resolve.

    ``level``, ``previous`` and ``peak`` are ranks (1 = the lowest level, 0 = ok).
    """

    kind: TransitionKind
    alert_id: str
    triggered_at: float
    trigger_value: float | None = None
    level: int = 0
    previous: int = 0
    peak: int = 0


class LevelLifecycle:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._observe = client.register_script(_OBSERVE)

    def observe(
        self, observations: list[tuple[LevelObservation, str]], received_at: float
    ) -> list[list[LevelTransition]]:
        """Apply observations (each with the id a new alert would get) in order, one trip."""
        if not observations:
            return []
        pipe = self.client.pipeline(transaction=False)
        for obs, new_alert_id in observations:
            key = state_key(obs.rule_id, obs.key)
            levels: list[str] = []
            for spec in obs.levels:
                levels += [
                    "1" if spec.breached else "0",
                    "1" if spec.cleared else "0",
                    repr(spec.for_seconds),
                    repr(spec.repeat_interval),
                ]
            self._observe(
                keys=[key, f"{key}:log", f"{key}:log-order", seen_key(obs.rule_id)],
                args=[
                    repr(obs.at),
                    f"{obs.topic}/{obs.partition}",
                    obs.offset,
                    f"{obs.topic}/{obs.partition}/{obs.offset}",
                    new_alert_id,
                    "" if obs.value is None else repr(obs.value),
                    repr(received_at),
                    STATE_TTL_SECONDS,
                    REPLAY_LOG_LENGTH,
                    obs.key,
                    len(obs.levels),
                    *levels,
                ],
                client=pipe,
            )
        return [_transitions(result) for result in pipe.execute()]


def _transitions(result: list[Any]) -> list[LevelTransition]:
    """The transitions one observation caused: a level one, and/or a no-data resolve."""
    kind, logged, no_data = text(result[0]), text(result[1]), text(result[2])
    found: list[LevelTransition] = []
    if kind == "replay" and logged:
        kind, _, logged = logged.partition("|")
    elif logged:
        logged = logged.partition("|")[2]
    if kind not in ("none", "replay") and logged:
        detail = json.loads(logged)
        trigger_value = detail.get("trigger_value")
        found.append(
            LevelTransition(
                kind=TransitionKind(kind),
                alert_id=str(detail["alert_id"]),
                triggered_at=float(detail["triggered_at"]),
                trigger_value=float(trigger_value) if trigger_value not in (None, "") else None,
                level=int(detail["level"]),
                previous=int(detail["previous"]),
                peak=int(detail["peak"]),
            )
        )
    if no_data:
        detail = json.loads(no_data)
        found.append(
            LevelTransition(
                TransitionKind.NO_DATA_RESOLVE,
                str(detail["alert_id"]),
                float(detail["triggered_at"]),
            )
        )
    return found
