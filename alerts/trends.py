"""The state of trend rules per (rule, key) in Redis, each reading applied by one Lua script.

Window kinds (rate_of_change, moving_average, forecast) keep their recent readings in a
sorted set scored by event time; the script adds the reading, trims what fell out of the
window (and beyond ``readings``) and returns the window in event-time order.

Anomaly keeps an exponentially weighted mean and variance; the script returns them as they
were *before* the reading (a reading is judged against its past), then folds it in.

Out-of-order readings, the stated rule:

- window kinds place a late reading in event-time order; one older than the window
  (before ``newest - window``) is dropped and counted;
- anomaly drops and counts any reading at or before the last event time it applied (a
  running mean cannot be re-ordered).

The count is in the state hash (``late_dropped``) and in the result. Replays (an offset at
or before the last applied on the partition) change nothing: a window member is keyed by
its topic/partition/offset (re-adding it is a no-op), and the running mean answers a replay
with the mean and variance it judged that reading against the first time, from a short log;
the lifecycle answers a replay from its own log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from alerts.lifecycle import REPLAY_LOG_LENGTH, STATE_TTL_SECONDS
from contract.redis_replies import text

TREND_PREFIX = "klaxon:trend"

_WINDOW = """
local state, samples = KEYS[1], KEYS[2]
local ts, value, member = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local window, keep, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local newest = redis.call('ZREVRANGE', samples, 0, 0, 'WITHSCORES')
local latest = ts
if newest[2] and tonumber(newest[2]) > ts then latest = tonumber(newest[2]) end
local late = 0
if window > 0 and ts < latest - window then
  late = 1
  redis.call('HINCRBY', state, 'late_dropped', 1)
else
  redis.call('ZADD', samples, ts, member .. '|' .. value)
end
if window > 0 then redis.call('ZREMRANGEBYSCORE', samples, '-inf', '(' .. (latest - window)) end
if keep > 0 then redis.call('ZREMRANGEBYRANK', samples, 0, -(keep + 1)) end
redis.call('EXPIRE', samples, ttl)
redis.call('EXPIRE', state, ttl)
return {late, redis.call('ZRANGE', samples, 0, -1, 'WITHSCORES')}
"""

_RUNNING = """
local state, log_key, log_order = KEYS[1], KEYS[2], KEYS[3]
local ts, x, tp, offset = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local alpha, ttl, identity = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local log_length = tonumber(ARGV[8])
local s = redis.call('HGETALL', state)
local st = {}
for i = 1, #s, 2 do st[s[i]] = s[i + 1] end
if st['tp'] == tp and st['offset'] and offset <= tonumber(st['offset']) then
  -- A replay: judged against the same past as the first time, from the log.
  local logged = redis.call('HGET', log_key, identity)
  if not logged then return {'replay', '', '', ''} end
  local n, mean, var = string.match(logged, '([^|]*)|([^|]*)|([^|]*)')
  return {'ok', n, mean, var}
end
if st['last_ts'] and ts <= tonumber(st['last_ts']) then
  redis.call('HINCRBY', state, 'late_dropped', 1)
  return {'late', '', '', ''}
end
local n = tonumber(st['n'] or '0')
local mean, var = tonumber(st['mean'] or '0'), tonumber(st['var'] or '0')
local before = {tostring(n), tostring(mean), tostring(var)}
if n == 0 then
  mean, var = x, 0
else
  local diff = x - mean
  local incr = alpha * diff
  mean = mean + incr
  var = (1 - alpha) * (var + diff * incr)
end
redis.call('HSET', state, 'n', n + 1, 'mean', tostring(mean), 'var', tostring(var),
           'last_ts', ts, 'tp', tp, 'offset', offset)
redis.call('HSET', log_key, identity, table.concat(before, '|'))
redis.call('LPUSH', log_order, identity)
local evicted = redis.call('LRANGE', log_order, log_length, -1)
for _, old in ipairs(evicted) do redis.call('HDEL', log_key, old) end
redis.call('LTRIM', log_order, 0, log_length - 1)
for _, k in ipairs({state, log_key, log_order}) do redis.call('EXPIRE', k, ttl) end
return {'ok', before[1], before[2], before[3]}
"""


@dataclass(frozen=True)
class WindowResult:
    late: bool  # dropped: older than the window
    samples: list[tuple[float, float]]  # (event time, value), in event-time order


@dataclass(frozen=True)
class RunningResult:
    status: str  # ok | late (dropped) | replay (nothing applied)
    count: int = 0  # readings before this one
    mean: float = 0.0
    variance: float = 0.0


@dataclass(frozen=True)
class WindowRequest:
    rule_id: str
    key: str
    at: float
    value: float
    identity: str  # topic/partition/offset: a replay re-adds the same member
    window: float
    keep: int


@dataclass(frozen=True)
class RunningRequest:
    rule_id: str
    key: str
    at: float
    value: float
    topic_partition: str
    offset: int
    alpha: float


def trend_key(rule_id: str, key: str) -> str:
    return f"{TREND_PREFIX}:{rule_id}:{key}"


class TrendStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._window = client.register_script(_WINDOW)
        self._running = client.register_script(_RUNNING)

    def apply(
        self, requests: list[WindowRequest | RunningRequest]
    ) -> list[WindowResult | RunningResult]:
        """Apply readings in order, one round trip; each script runs atomically in Redis."""
        if not requests:
            return []
        pipe = self.client.pipeline(transaction=False)
        for request in requests:
            state = trend_key(request.rule_id, request.key)
            if isinstance(request, WindowRequest):
                self._window(
                    keys=[state, f"{state}:samples"],
                    args=[
                        repr(request.at),
                        repr(request.value),
                        request.identity,
                        repr(request.window),
                        request.keep,
                        STATE_TTL_SECONDS,
                    ],
                    client=pipe,
                )
            else:
                self._running(
                    keys=[state, f"{state}:log", f"{state}:log-order"],
                    args=[
                        repr(request.at),
                        repr(request.value),
                        request.topic_partition,
                        request.offset,
                        repr(request.alpha),
                        STATE_TTL_SECONDS,
                        f"{request.topic_partition}/{request.offset}",
                        REPLAY_LOG_LENGTH,
                    ],
                    client=pipe,
                )
        return [
            _window_result(raw) if isinstance(request, WindowRequest) else _running_result(raw)
            for request, raw in zip(requests, pipe.execute(), strict=True)
        ]

    def late_dropped(self, rule_id: str, key: str) -> int:
        """How many out-of-order readings of (rule, key) were dropped."""
        raw = self.client.hget(trend_key(rule_id, key), "late_dropped")
        return int(raw) if raw is not None else 0


def _window_result(raw: list[Any]) -> WindowResult:
    late, flat = int(raw[0]), raw[1]
    samples = [
        (float(flat[i + 1]), float(text(flat[i]).rpartition("|")[2]))
        for i in range(0, len(flat), 2)
    ]
    return WindowResult(late=bool(late), samples=samples)


def _running_result(raw: list[Any]) -> RunningResult:
    status = text(raw[0])
    if status != "ok":
        return RunningResult(status)
    return RunningResult(status, int(text(raw[1])), float(text(raw[2])), float(text(raw[3])))
