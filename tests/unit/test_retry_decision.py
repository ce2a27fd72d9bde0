"""The decision table of a failed attempt (tasks.retry), with no I/O."""

from __future__ import annotations

import pytest

from contract.retry_policy import MAX_COUNTDOWN_SECONDS, RetryPolicy
from tasks.retry import (
    LEASE_WAIT_MAX_SECONDS,
    LEASE_WAIT_MIN_SECONDS,
    Failure,
    GiveUp,
    RetryIn,
    WaitForLease,
    decide,
    decision_of,
    remember,
)

SEED = RetryPolicy()  # 3 retries, 5 s doubling, capped at 300 s


def lowest(low: float, _high: float) -> float:
    return low


def highest(_low: float, high: float) -> float:
    return high


@pytest.mark.parametrize(("failed_before", "seconds"), [(0, 5.0), (1, 10.0), (2, 20.0)])
def test_transient_failures_follow_the_seeds_backoff(failed_before: int, seconds: float) -> None:
    """The seed's schedule: 5 s, 10 s, 20 s; the attempt number counts this failure."""
    assert decide(SEED, Failure.TRANSIENT, failed_before) == RetryIn(seconds, failed_before + 1)


def test_out_of_retries_gives_up_with_every_attempt_counted() -> None:
    """A transient failure after max_retries retries is the last: four attempts, dead letter."""
    decision = decide(SEED, Failure.TRANSIENT, 3)
    assert isinstance(decision, GiveUp)
    assert decision.attempt == 4
    assert "out of retries" in decision.why


def test_no_retries_allowed_gives_up_at_the_first_failure() -> None:
    """max_retries 0: the first transient failure is dead-lettered."""
    assert decide(RetryPolicy(max_retries=0), Failure.TRANSIENT, 0) == GiveUp(
        1, "out of retries (0)"
    )


def test_permanent_failure_gives_up_at_once_whatever_retries_are_left() -> None:
    """A permanent error is never retried, and counts as one more attempt."""
    assert decide(SEED, Failure.PERMANENT, 0) == GiveUp(1, "permanent error")
    assert decide(SEED, Failure.PERMANENT, 2, retry_after=1.0) == GiveUp(3, "permanent error")


def test_retry_after_longer_than_the_backoff_wins() -> None:
    """The receiver's Retry-After is honoured when it asks for longer than the backoff."""
    assert decide(SEED, Failure.TRANSIENT, 0, retry_after=42.0) == RetryIn(42.0, 1)


def test_retry_after_shorter_than_the_backoff_does_not_hasten_the_retry() -> None:
    """A Retry-After below the backoff leaves the backoff in place."""
    assert decide(SEED, Failure.TRANSIENT, 2, retry_after=1.0) == RetryIn(20.0, 3)


def test_retry_after_beyond_the_cap_is_capped() -> None:
    """However long a receiver asks, the wait is at most MAX_COUNTDOWN_SECONDS."""
    decision = decide(SEED, Failure.TRANSIENT, 0, retry_after=86400.0)
    assert decision == RetryIn(MAX_COUNTDOWN_SECONDS, 1)


def test_backoff_stops_growing_at_backoff_max_seconds() -> None:
    """Doubling stops at the policy's backoff_max_seconds."""
    policy = RetryPolicy(max_retries=20, backoff_seconds=5.0, backoff_max_seconds=60.0)
    assert decide(policy, Failure.TRANSIENT, 10) == RetryIn(60.0, 11)


def test_jitter_draws_between_half_and_the_full_backoff() -> None:
    """With jitter the countdown is drawn in [backoff/2, backoff] (both ends reachable)."""
    policy = RetryPolicy(jitter=True)
    assert policy.countdown(2, uniform=lowest) == 10.0
    assert policy.countdown(2, uniform=highest) == 20.0
    assert decide(policy, Failure.TRANSIENT, 1, uniform=lowest) == RetryIn(5.0, 2)


def test_jitter_never_undercuts_retry_after() -> None:
    """A jittered countdown below the receiver's Retry-After is raised to it."""
    policy = RetryPolicy(jitter=True)
    assert policy.countdown(0, retry_after=4.0, uniform=lowest) == 4.0


def test_jitter_with_the_real_random_stays_in_range() -> None:
    """Without an injected draw, jitter still lands within [backoff/2, backoff]."""
    policy = RetryPolicy(jitter=True)
    assert all(10.0 <= policy.countdown(2) <= 20.0 for _ in range(200))


def test_busy_lease_waits_for_its_expiry_and_is_not_a_failed_attempt() -> None:
    """Another worker's lease: wait until it expires, even with no retries left."""
    assert decide(SEED, Failure.LEASE_BUSY, 0, lease_left=3.0) == WaitForLease(3.0)
    assert decide(RetryPolicy(max_retries=0), Failure.LEASE_BUSY, 9, lease_left=3.0) == (
        WaitForLease(3.0)
    )


@pytest.mark.parametrize(
    ("lease_left", "seconds"),
    [
        (None, LEASE_WAIT_MAX_SECONDS),
        (0.0, LEASE_WAIT_MIN_SECONDS),
        (3600.0, LEASE_WAIT_MAX_SECONDS),
    ],
)
def test_busy_lease_wait_is_bounded(lease_left: float | None, seconds: float) -> None:
    """Unknown, expired or very long leases are looked at again within the bounds."""
    assert decide(SEED, Failure.LEASE_BUSY, 0, lease_left=lease_left) == WaitForLease(seconds)


def test_the_decision_travels_with_the_request() -> None:
    """What the task decided is what the metrics read back from its request."""

    class Request:
        pass

    request = Request()
    assert decision_of(request) is None
    remember(request, RetryIn(5.0, 1))
    assert decision_of(request) == RetryIn(5.0, 1)
