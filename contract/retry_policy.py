"""Retry policy of a channel: the seed's 5 s, 10 s, 20 s by default, overridable per channel.

It is read with the config (``notifications.<channel>.retry``); what a worker does with a
failed attempt is decided in ``tasks.retry`` (channels never sleep or loop).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from contract.mapping import MappingReader

# However long a receiver asks us to wait, an alert is tried again within this many
# seconds: a later alert is worth less than a refused retry that ends as a dead letter.
MAX_COUNTDOWN_SECONDS = 600.0


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
