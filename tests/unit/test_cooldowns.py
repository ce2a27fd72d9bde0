"""Per-rule cooldowns in a real Redis: one alert per (rule, dedup value), replays pass."""

from __future__ import annotations

import redis

from ingest.cooldown import CooldownRequest, Cooldowns
from tests.support.wait import wait_until


def request(identity: str, value: str = "ABC123", rule: str = "watchlist") -> CooldownRequest:
    return CooldownRequest(rule_id=rule, dedup_value=value, identity=identity, seconds=300)


def test_the_first_event_is_allowed_and_a_second_one_suppressed(redis_client: redis.Redis) -> None:
    """Two events of one plate: the first takes the cooldown, the second is held, in one call."""
    cooldowns = Cooldowns(redis_client)

    assert cooldowns.allow([request("t/0/1"), request("t/0/2")]) == [True, False]
    assert cooldowns.allow([request("t/1/7")]) == [False]


def test_other_plates_and_other_rules_have_cooldowns_of_their_own(
    redis_client: redis.Redis,
) -> None:
    """A cooldown is per (rule, dedup value): a different plate or rule still alerts."""
    cooldowns = Cooldowns(redis_client)
    cooldowns.allow([request("t/0/1")])

    allowed = cooldowns.allow([request("t/0/2", value="XYZ789"), request("t/0/3", rule="other")])

    assert allowed == [True, True]


def test_a_replayed_event_passes_its_own_cooldown(redis_client: redis.Redis) -> None:
    """The event that took the cooldown is allowed again when replayed (invariant 3)."""
    cooldowns = Cooldowns(redis_client)
    cooldowns.allow([request("t/0/1")])

    assert cooldowns.allow([request("t/0/2"), request("t/0/1")]) == [False, True]


def test_the_cooldown_lasts_the_rule_s_seconds_and_then_a_new_event_alerts(
    redis_client: redis.Redis,
) -> None:
    """The key expires after the rule's cooldown_seconds; once gone, the next event alerts."""
    cooldowns = Cooldowns(redis_client)
    first = request("t/0/1")
    cooldowns.allow([first])
    assert 295 <= redis_client.ttl(first.key) <= 300

    # Let Redis expire it now rather than in 300 s: what is under test is what follows.
    redis_client.pexpire(first.key, 1)
    wait_until(lambda: not redis_client.exists(first.key), timeout=5, message="cooldown expiry")

    assert cooldowns.allow([request("t/0/2")]) == [True]
    assert redis_client.get(first.key) == b"t/0/2"


def test_an_empty_batch_never_touches_redis() -> None:
    """No requests, no round trip: a batch without rate-limited matches survives Redis down."""
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    assert Cooldowns(unreachable).allow([]) == []
