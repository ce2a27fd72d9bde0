"""Expected devices: a device listed on a rule that has never reported gets a no-data alert.

The usual sweep only knows devices it has seen (alerts.lifecycle keeps their last reading).
For a listed device with no reading at all, the first sweep that looks records when it
started expecting it (``expected_since`` in the device's state hash); once ``no_data_seconds``
have passed from then without a reading, one Lua script raises its no-data alert, once. The
state hash is the lifecycle's, so the device's first reading resolves that alert in the
bridge exactly like any other no-data alert.
"""

from __future__ import annotations

import json

import redis

from alerts.lifecycle import STATE_TTL_SECONDS, Transition, state_key
from contract.notification import TransitionKind

_NEVER_SEEN = """
local key = KEYS[1]
local now, after, alert_id, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if redis.call('HEXISTS', key, 'last_seen') == 1 then return '' end
local since = redis.call('HGET', key, 'expected_since')
if not since then
  redis.call('HSET', key, 'expected_since', now)
  redis.call('EXPIRE', key, ttl)
  return ''
end
if tonumber(since) > now - after or redis.call('HEXISTS', key, 'no_data_alert') == 1 then
  return ''
end
redis.call('HSET', key, 'no_data_alert', alert_id, 'no_data_since', since)
return cjson.encode({alert_id = alert_id, triggered_at = tonumber(since)})
"""


class ExpectedDevices:
    def __init__(self, client: redis.Redis) -> None:
        self._never_seen = client.register_script(_NEVER_SEEN)

    def raise_never_seen(
        self, rule_id: str, device: str, now: float, no_data_seconds: float, alert_id: str
    ) -> Transition | None:
        """The no-data alert of ``device`` when it is due (never reported for long enough)."""
        raw = self._never_seen(
            keys=[state_key(rule_id, device)],
            args=[repr(now), repr(no_data_seconds), alert_id, STATE_TTL_SECONDS],
        )
        text = raw.decode() if isinstance(raw, bytes) else str(raw or "")
        if not text:
            return None
        detail = json.loads(text)
        return Transition(
            TransitionKind.NO_DATA, str(detail["alert_id"]), float(detail["triggered_at"])
        )
