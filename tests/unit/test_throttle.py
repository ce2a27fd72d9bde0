"""Provider rate limits (tasks.throttle): one GCRA per bucket in the test's real Redis.

Time is injected (``now``), so every wait below is exact; the script's own clock (Redis
TIME) is exercised by the integration test with three worker processes.
"""

from __future__ import annotations

import pytest
import redis

from contract.channels.sms import segments
from contract.retry_policy import RetryPolicy
from contract.throttle import ChannelThrottle, Throttle
from tasks.channels import CHANNELS
from tasks.retry import Failure, WaitForTurn, decide
from tasks.throttle import Bucket, RateGate, buckets_for, plan_send
from tests.support.ledger import parse_channel_settings, sample_notification

T0 = 1_800_000_000.0
TWO_A_SECOND = Throttle(per_second=2.0, burst=1)


def bucket(name: str, limit: Throttle = TWO_A_SECOND, cost: int = 1) -> Bucket:
    return Bucket(f"klaxon:throttle:test:{name}", limit, cost)


def test_sends_within_the_burst_go_at_once_and_the_next_waits_one_interval(
    redis_client: redis.Redis,
) -> None:
    """A burst of 3 at 1/s admits three sends at once; the fourth is booked 1 s later."""
    gate = RateGate(redis_client)
    limit = [bucket("b", Throttle(per_second=1.0, burst=3))]

    waits = [gate.turn(f"n{i}", limit, now=T0) for i in range(4)]

    assert waits == [0.0, 0.0, 0.0, pytest.approx(1.0)]


def test_waiting_sends_are_booked_one_interval_apart_and_keep_their_turn(
    redis_client: redis.Redis,
) -> None:
    """Queued sends get successive turns; each one asking again at its turn goes at once."""
    gate = RateGate(redis_client)
    limit = [bucket("q")]
    waits = [gate.turn(f"n{i}", limit, now=T0) for i in range(4)]
    assert waits == [0.0, pytest.approx(0.5), pytest.approx(1.0), pytest.approx(1.5)]

    # n2 comes back early (a clock a little behind): told the rest of its wait, not rebooked.
    assert gate.turn("n2", limit, now=T0 + 0.75) == pytest.approx(0.25)
    # At its turn it goes, without drawing from the bucket again...
    assert gate.turn("n2", limit, now=T0 + 1.0) == 0.0
    # ...so a newcomer then queues behind the last booking (n3 at +1.5), not in front of it.
    assert gate.turn("n4", limit, now=T0 + 1.0) == pytest.approx(1.0)


def test_a_full_bucket_refills_at_the_rate(redis_client: redis.Redis) -> None:
    """After a quiet spell as long as the burst takes to refill, a whole burst goes again."""
    gate = RateGate(redis_client)
    limit = [bucket("r", Throttle(per_second=1.0, burst=2))]
    assert [gate.turn(f"a{i}", limit, now=T0) for i in range(2)] == [0.0, 0.0]

    assert [gate.turn(f"b{i}", limit, now=T0 + 2.0) for i in range(3)] == [
        0.0,
        0.0,
        pytest.approx(1.0),
    ]


def test_a_send_waits_for_the_slowest_of_its_buckets_and_books_all(
    redis_client: redis.Redis,
) -> None:
    """The channel's bucket and one recipient's: the later turn wins, both are moved."""
    gate = RateGate(redis_client)
    channel = bucket("channel", Throttle(per_second=10.0, burst=1))
    slow = bucket("slow-recipient", Throttle(per_second=0.2, burst=1))
    assert gate.turn("a", [channel, slow], now=T0) == 0.0

    assert gate.turn("b", [channel, slow], now=T0) == pytest.approx(5.0)
    # Another send on the channel alone queues behind b's booking of the channel bucket.
    assert gate.turn("c", [channel], now=T0) == pytest.approx(5.1)


def test_a_cost_above_the_burst_waits_for_a_full_bucket_then_goes(
    redis_client: redis.Redis,
) -> None:
    """An SMS to three numbers at 1/s, burst 1: never refused for good, and paid for after."""
    gate = RateGate(redis_client)
    sender = Throttle(per_second=1.0, burst=1)

    assert gate.turn("three-numbers", [bucket("sms", sender, cost=3)], now=T0) == 0.0
    assert gate.turn("next", [bucket("sms", sender)], now=T0) == pytest.approx(3.0)


def test_a_throttled_send_is_a_wait_for_its_turn_never_a_failed_attempt() -> None:
    """decide answers WaitForTurn with the booked wait, even with no retries left."""
    out_of_retries = RetryPolicy(max_retries=0)

    assert decide(out_of_retries, Failure.THROTTLED, 5, turn_in=42.5) == WaitForTurn(42.5)


def test_defaults_follow_the_providers_and_scope_by_webhook_url_and_sender() -> None:
    """Slack 1/s per webhook URL, Twilio 1/s per from-number; keys never hold the secret."""
    slack = CHANNELS["slack"].settings
    url = "https://hooks.slack.com/services/T0/B0/SECRETPATH"
    assert slack.throttle_scope is not None
    assert (
        slack.throttle_scope(parse_channel_settings(CHANNELS["slack"], {"webhook_url": url})[0])
        == url
    )
    assert slack.default_throttle == Throttle(1.0, 1)
    [one] = buckets_for("slack", ChannelThrottle(slack.default_throttle), url, [])
    [other] = buckets_for("slack", ChannelThrottle(slack.default_throttle), url + "X", [])
    assert one.key != other.key
    assert "SECRETPATH" not in one.key

    sms = CHANNELS["sms"].settings
    sms_settings, problems = parse_channel_settings(
        CHANNELS["sms"],
        {
            "twilio_account_sid": "AC" + "0" * 32,
            "twilio_auth_token": "t",
            "from_number": "+15551230000",
            "to_numbers": ["+15550000001", "+15550000002"],
        },
    )
    assert problems == []
    per_recipient = ChannelThrottle(
        sms.default_throttle, {"+15550000002": Throttle(per_second=0.1, burst=1)}
    )
    two_segments = sample_notification("sms", message="x" * 200)
    buckets = plan_send(sms, per_recipient, sms_settings, two_segments, sent={"+15550000001"})
    # One number still owed a message of two segments: the sender's bucket and that
    # number's own, each charged two.
    assert [(b.limit, b.cost) for b in buckets] == [(Throttle(1.0, 1), 2), (Throttle(0.1, 1), 2)]
    everyone = plan_send(sms, per_recipient, sms_settings, sample_notification("sms"), sent=set())
    # Both numbers owed one segment: the sender pays for two messages, the limited number one.
    assert [(b.limit, b.cost) for b in everyone] == [(Throttle(1.0, 1), 2), (Throttle(0.1, 1), 1)]


def test_sms_segments_follow_gsm7_and_ucs2() -> None:
    """160 GSM-7 septets fit one segment, then 153 each; 70 UCS-2 units, then 67 each."""
    assert [segments("a" * n) for n in (1, 160, 161, 306, 307)] == [1, 1, 2, 2, 3]
    assert [segments("€" * n) for n in (80, 81)] == [1, 2]  # an extension: two septets
    assert [segments("ł" * n) for n in (70, 71, 134, 135)] == [1, 2, 2, 3]
    assert [segments("🚨" * n) for n in (35, 36)] == [1, 2]  # two UTF-16 units each
