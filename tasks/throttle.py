"""Provider rate limits shared by every worker: one GCRA per bucket, kept in Redis.

Each bucket (a channel's scope, say one Slack webhook URL, or one recipient) is a single
key holding its theoretical arrival time (TAT), as in the generic cell rate algorithm:
a send of ``cost`` units is on time when ``TAT - burst * interval <= now``, and moves the
TAT on by ``cost * interval``. One Lua script checks every bucket of a send and moves them
together, so workers on any host share the limit and never race.

A send that is not on time is not refused: the script books its turn (the earliest time
every bucket allows it), moves the buckets past it, and remembers the booking under the
notification's id. The task then waits that long in the delayed set (tasks.retry,
``WaitForTurn``) and, when it comes back, finds its booking and sends without asking
again, so a queue of waiting sends leaves one by one at the rate, with no stampede. A
booking lost with a crashed worker only leaves its slot unused: the rate never rises.

A cost above the burst (an SMS to more numbers than the burst) waits for a full bucket
and then goes, so it is never refused for good. The clock is Redis's ``TIME``; tests
pass ``now``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from contract.channels.spec import SettingsSpec
from contract.notification import Notification
from contract.throttle import ChannelThrottle, Throttle

KEY_PREFIX = "klaxon:throttle"
# A booking outlives its turn by this long, for a task whose retry comes back late.
BOOKING_GRACE_MS = 3_600_000

_ADMIT = """
-- KEYS[1]: this notification's booking; KEYS[2..]: its buckets.
-- ARGV[1]: now ('' = Redis's clock); per bucket: interval, burst, cost; last: grace (ms).
local now = tonumber(ARGV[1])
if not now then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local booked = tonumber(redis.call('GET', KEYS[1]))
if booked then
  if booked <= now then
    redis.call('DEL', KEYS[1])
    return '0'
  end
  return tostring(booked - now)
end
local slot = now
local tats = {}
for i = 2, #KEYS do
  local interval = tonumber(ARGV[3 * i - 4])
  local burst = tonumber(ARGV[3 * i - 3])
  local cost = tonumber(ARGV[3 * i - 2])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  tats[i] = tat
  local allowed = tat + math.min(cost - burst, 0) * interval
  if allowed > slot then slot = allowed end
end
for i = 2, #KEYS do
  local tat = math.max(tats[i], slot) + tonumber(ARGV[3 * i - 2]) * tonumber(ARGV[3 * i - 4])
  redis.call('SET', KEYS[i], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
end
if slot <= now then return '0' end
redis.call('SET', KEYS[1], tostring(slot), 'PX', math.ceil((slot - now) * 1000) + ARGV[#ARGV])
return tostring(slot - now)
"""


@dataclass(frozen=True)
class Bucket:
    """One limit, the Redis key that counts it, and what this send costs it."""

    key: str
    limit: Throttle
    cost: int = 1


def _digest(text: str) -> str:
    # Scopes are webhook URLs and phone numbers: secrets and personal data stay out of keys.
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def buckets_for(
    channel: str,
    throttle: ChannelThrottle,
    scope: str | None,
    recipients: Sequence[str],
    units: int = 1,
) -> list[Bucket]:
    """The buckets a send of ``units`` to each of ``recipients`` on ``channel`` draws from.

    The channel's bucket pays for every recipient (one provider call each), a recipient's
    own bucket for its message alone.
    """
    buckets = []
    if throttle.limit is not None:
        key = f"{KEY_PREFIX}:{channel}:{_digest(scope or channel)}"
        buckets.append(Bucket(key, throttle.limit, max(len(recipients), 1) * units))
    for recipient in recipients:
        limit = throttle.recipients.get(recipient)
        if limit is not None:
            key = f"{KEY_PREFIX}:{channel}:to:{_digest(recipient)}"
            buckets.append(Bucket(key, limit, units))
    return buckets


class RateGate:
    """Books sends against their buckets; answers how long a send must wait for its turn."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._admit = client.register_script(_ADMIT)

    def turn(
        self, notification_id: str, buckets: Sequence[Bucket], now: float | None = None
    ) -> float:
        """Seconds until this notification's turn: 0 means send now (and it is counted)."""
        if not buckets:
            return 0.0
        keys = [f"{KEY_PREFIX}:booked:{notification_id}", *(b.key for b in buckets)]
        args: list[str | int | float] = ["" if now is None else repr(now)]
        for bucket in buckets:
            args += [repr(bucket.limit.interval), bucket.limit.burst, max(bucket.cost, 1)]
        args.append(BOOKING_GRACE_MS)
        return max(0.0, float(self._admit(keys=keys, args=args)))


def plan_send(
    spec: SettingsSpec,
    throttle: ChannelThrottle,
    settings: Any,
    notification: Notification,
    sent: set[str],
) -> list[Bucket]:
    """The buckets of this send, each with its cost, for the recipients still owed.

    A multi-recipient channel makes one provider call per recipient (an SMS each), so a
    send to three numbers costs the channel three; the recipients that accepted it on an
    earlier attempt cost nothing again. A message costs the channel's units of it (an SMS
    of three segments costs three per number), else one.
    """
    if not throttle.active:
        return []
    owed: list[str] = []
    if spec.recipients is not None:
        everyone = notification.recipients
        if everyone is None:
            everyone = list(spec.recipients(settings))
        owed = [r for r in everyone if r not in sent]
    scope = spec.throttle_scope(settings) if spec.throttle_scope else None
    units = spec.units(notification) if spec.units else 1
    return buckets_for(notification.channel, throttle, scope, owed, units)
