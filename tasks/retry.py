"""The fate of a failed delivery attempt, decided in one place and nowhere else.

``decide`` takes the channel's ``RetryPolicy``, the kind of failure (transient, permanent,
or another worker holding the send lease), the failed attempts so far and the receiver's
Retry-After, and answers one of:

- ``RetryIn(seconds)``: a failed attempt; try again after that wait;
- ``WaitForLease(seconds)``: not a failed attempt; look again when the lease may be free;
- ``GiveUp(why)``: keep the notification as a dead letter.

The Celery task (``tasks.notify``) asks and does what the answer says; the worker metrics
(``tasks.worker_metrics``) read the same answer from the task's request.

Waits never hold a broker message: a retry is parked in the delayed set
(``tasks.delayed``), so no wait here is bounded by the Redis visibility timeout.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from klaxon.mapping import MappingReader

# However long a receiver asks us to wait, an alert is tried again within this many
# seconds: a later alert is worth less than a refused retry that ends as a dead letter.
MAX_COUNTDOWN_SECONDS = 600.0
# A busy lease is looked at again after at most this long, at least this soon.
LEASE_WAIT_MAX_SECONDS = 15.0
LEASE_WAIT_MIN_SECONDS = 0.5

Uniform = Callable[[float, float], float]


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_seconds: float = 5.0
    backoff_max_seconds: float = 300.0
    # Off by default so the seed's 5/10/20 schedule holds exactly; "full" jitter picks a
    # countdown uniformly in [backoff/2, backoff] so that a burst does not retry in lockstep.
    jitter: bool = False

    def countdown(
        self,
        retries_done: int,
        retry_after: float | None = None,
        uniform: Uniform = random.uniform,
    ) -> float:
        """Seconds to wait before attempt ``retries_done + 2`` (the first retry has 0 done)."""
        delay = min(self.backoff_seconds * 2.0**retries_done, self.backoff_max_seconds)
        if self.jitter:
            delay = uniform(delay / 2, delay)
        if retry_after is not None:
            # The receiver said when to come back: never earlier.
            delay = max(delay, retry_after)
        return min(delay, MAX_COUNTDOWN_SECONDS)


class Failure(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    LEASE_BUSY = "lease_busy"


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
class GiveUp:
    """Dead-letter the notification after ``attempt`` failed attempts."""

    attempt: int
    why: str


Decision = RetryIn | WaitForLease | GiveUp


def decide(
    policy: RetryPolicy,
    failure: Failure,
    failed_before: int,
    retry_after: float | None = None,
    lease_left: float | None = None,
    uniform: Uniform = random.uniform,
) -> Decision:
    """What to do after an attempt that failed with ``failure``.

    ``failed_before`` counts the failed attempts before this one; ``retry_after`` is the
    receiver's Retry-After in seconds; ``lease_left`` the seconds until a busy lease expires.
    """
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


def remember(request: Any, decision: Decision) -> None:
    setattr(request, _REQUEST_ATTRIBUTE, decision)


def decision_of(request: Any) -> Decision | None:
    found = getattr(request, _REQUEST_ATTRIBUTE, None)
    return found if isinstance(found, RetryIn | WaitForLease | GiveUp) else None


def parse_retry(reader: MappingReader) -> RetryPolicy:
    """Read a ``retry:`` mapping (max_retries, backoff_seconds, backoff_max_seconds, jitter)."""
    default = RetryPolicy()
    policy = RetryPolicy(
        max_retries=reader.optional("max_retries", int, default.max_retries),
        backoff_seconds=reader.optional("backoff_seconds", float, default.backoff_seconds),
        backoff_max_seconds=reader.optional(
            "backoff_max_seconds", float, default.backoff_max_seconds
        ),
        jitter=reader.optional("jitter", bool, default.jitter),
    )
    if policy.max_retries < 0:
        reader.error("max_retries", f"must be 0 or more, got {policy.max_retries}")
    if policy.backoff_seconds < 0:
        reader.error("backoff_seconds", f"must be 0 or more, got {policy.backoff_seconds}")
    if policy.backoff_max_seconds > MAX_COUNTDOWN_SECONDS:
        reader.error(
            "backoff_max_seconds",
            f"must be at most {MAX_COUNTDOWN_SECONDS:g} (the longest wait between attempts), "
            f"got {policy.backoff_max_seconds:g}",
        )
    reader.finish()
    return policy
