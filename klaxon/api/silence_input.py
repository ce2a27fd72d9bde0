"""What a person gives to add a silence, checked the same way by the API and the console."""

from __future__ import annotations

import math
from collections.abc import Sequence

from contract.durations import parse_duration
from rules.matchers import Matcher, MatcherError, parse_matcher

# A silence longer than a year is almost surely a typo (and a huge number would overflow).
MAX_SECONDS = 366 * 24 * 3600.0
# More matchers than this in one silence is a paste gone wrong, not a silence.
MAX_MATCHERS = 50
MAX_COMMENT = 2000


class DurationError(ValueError):
    """A silence's duration that cannot be used; the message says why."""


def silence_seconds(duration: str | float) -> float:
    """``"2h"``, ``"30m"`` or a number of seconds; raise DurationError outside the bounds."""
    if isinstance(duration, str):
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise DurationError(str(exc)) from None
    else:
        seconds = float(duration)
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        raise DurationError(f"must be longer than 0s and at most {MAX_SECONDS:.0f}s")
    return seconds


def parse_matchers(texts: Sequence[str]) -> tuple[tuple[Matcher, ...], list[tuple[int, str]]]:
    """The matchers parsed, and (index, message) for each one that cannot be used."""
    parsed: list[Matcher] = []
    problems: list[tuple[int, str]] = []
    for index, text in enumerate(texts):
        try:
            parsed.append(parse_matcher(text))
        except MatcherError as exc:
            problems.append((index, str(exc)))
    return tuple(parsed), problems
