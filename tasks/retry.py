"""The fate of a failed delivery attempt, decided in one place and nowhere else.

``decide`` takes the channel's ``RetryPolicy``, the kind of failure (transient, permanent,
or another worker holding the send lease), the failed attempts so far and the receiver's
Retry-After, and answers one of:

- ``RetryIn(seconds)``: a failed attempt; try again after that wait;
- ``WaitForLease(seconds)``: not a failed attempt; look again when the lease may be free;
- ``WaitForTurn(seconds)``: not a failed attempt either; the channel's rate limit
  (tasks.throttle) booked this send's turn that far ahead, and it goes then;
- ``GiveUp(why)``: keep the notification as a dead letter.

The Celery task (``tasks.notify``) asks and does what the answer says; the worker metrics
(``tasks.worker_metrics``) read the same answer from the task's request.

Waits never hold a broker message: a retry is parked in the delayed set
(``tasks.delayed``), so no wait here is bounded by the Redis visibility timeout.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from contract.retry_policy import RetryPolicy, Uniform

# A busy lease is looked at again after at most this long, at least this soon.
LEASE_WAIT_MAX_SECONDS = 15.0
LEASE_WAIT_MIN_SECONDS = 0.5


class Failure(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    LEASE_BUSY = "lease_busy"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class RetryIn:
    """A failed attempt (number ``attempt``) to be tried again after ``seconds``."""

    seconds: float
    attempt: int


@dataclass(frozen=True)
class WaitForLease:
    """Another worker is sending this notification: look again after ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class WaitForTurn:
    """Throttled: the send's turn under the channel's rate limit is ``seconds`` away."""

    seconds: float


@dataclass(frozen=True)
class GiveUp:
    """Dead-letter the notification after ``attempt`` failed attempts."""

    attempt: int
    why: str


Decision = RetryIn | WaitForLease | WaitForTurn | GiveUp


def decide(
    policy: RetryPolicy,
    failure: Failure,
    failed_before: int,
    retry_after: float | None = None,
    lease_left: float | None = None,
    turn_in: float | None = None,
    uniform: Uniform = random.uniform,
) -> Decision:
    """What to do after an attempt that failed with ``failure``.

    ``failed_before`` counts the failed attempts before this one; ``retry_after`` is the
    receiver's Retry-After in seconds; ``lease_left`` the seconds until a busy lease expires;
    ``turn_in`` the seconds until a throttled send's booked turn.
    """
    if failure is Failure.THROTTLED:
        # However long the queue, the send keeps its booked turn: never dropped, never
        # counted as a failure, never shortened (the booking is what keeps the rate).
        return WaitForTurn(max(turn_in or 0.0, 0.0))
    if failure is Failure.LEASE_BUSY:
        wait = LEASE_WAIT_MAX_SECONDS if lease_left is None else lease_left
        return WaitForLease(min(max(wait, LEASE_WAIT_MIN_SECONDS), LEASE_WAIT_MAX_SECONDS))
    attempt = failed_before + 1
    if failure is Failure.PERMANENT:
        return GiveUp(attempt, "permanent error")
    if failed_before >= policy.max_retries:
        return GiveUp(attempt, f"out of retries ({policy.max_retries})")
    return RetryIn(policy.countdown(failed_before, retry_after, uniform), attempt)


# The decision travels with the task's request (Celery's per-run Context), where the
# task_retry and task_failure signal handlers find it.
_REQUEST_ATTRIBUTE = "klaxon_decision"


def remember(request: object, decision: Decision) -> None:
    setattr(request, _REQUEST_ATTRIBUTE, decision)


def decision_of(request: object) -> Decision | None:
    found = getattr(request, _REQUEST_ATTRIBUTE, None)
    return found if isinstance(found, RetryIn | WaitForLease | WaitForTurn | GiveUp) else None
