"""Trend rules: alerts on how a device metric moves, not on one reading.

``type: rate_of_change``, ``moving_average``, ``anomaly`` and ``forecast``. The state they
need (recent readings, or a running mean and variance) is kept per (rule, device) in Redis
by alerts.trends; this module holds the rule and the math, pure functions of that state.
The verdict becomes an ordinary ``Reading`` whose ``value`` is the statistic (the rate, the
mean, the z-score, the projected value), so the usual lifecycle (for, repeat, resolve,
no-data) applies unchanged.

Formulas (docs/alerts.md has worked examples):

- rate_of_change: ``(v_last - v_first) / (t_last - t_first) * per`` over the readings of the
  last ``window``; computed once they span at least half the window.
- moving_average: the mean of the last ``readings`` readings, or of the last ``window``,
  against a threshold or a band (``low``/``high``).
- anomaly: ``z = |x - mean| / std`` against the exponentially weighted mean and variance
  of the readings before x (``alpha``), after ``min_samples`` readings.
- forecast: the least-squares slope over ``window``, projected ``horizon`` ahead of the last
  reading: ``v_last + slope * horizon``, against the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rules.model import all_of
from rules.operators import Condition, Predicate
from rules.stateful import (
    COMPARISONS,
    DEFAULT_THRESHOLD_STATE_KEY,
    AlertTerms,
    Reading,
    StatefulRule,
    _key_text,
    _number,
    event_seconds,
    metric_value,
)

TREND_TYPES = ("rate_of_change", "moving_average", "anomaly", "forecast")
# The kinds that keep a window of readings; anomaly keeps a running mean and variance.
WINDOW_TYPES = ("rate_of_change", "moving_average", "forecast")
DIRECTIONS = ("rising", "falling", "both")

TREND_MESSAGES = {
    "rate_of_change": "{rule_name}: {device_id} {metric} changing {current_value} per {per}",
    "moving_average": "{rule_name}: {device_id} {metric} average {current_value} {operator} "
    "{threshold}",
    "moving_average_band": "{rule_name}: {device_id} {metric} average {current_value} outside "
    "{low}..{high}",
    "anomaly": "{rule_name}: {device_id} {metric} is {current_value} standard deviations "
    "from its recent mean",
    "forecast": "{rule_name}: {device_id} {metric} would reach {threshold} within {horizon} "
    "at the current rate (projected {current_value})",
}
TREND_RESOLVE = "RESOLVED {rule_name}: {device_id} {metric} after {duration}"
TREND_NO_DATA = "{rule_name}: no data from {device_id} for {silence}"

Sample = tuple[float, float]  # (event time in seconds, value)


@dataclass(frozen=True, slots=True)
class Sampled:
    """One reading a trend rule takes in: the key, the value and its event time."""

    key: str
    value: float
    at: float | None


@dataclass(frozen=True, slots=True, eq=False, kw_only=True)
class TrendRule(StatefulRule):
    """A trend rule; ``kind`` picks the statistic, the other fields its parameters."""

    kind: str
    metric: str
    operator: str | None = None  # moving_average, forecast
    threshold: float | None = None  # every kind but anomaly (k is its threshold)
    per: float = 0.0  # rate_of_change: the change is given per this many seconds
    window: float = 0.0  # seconds of readings kept (0: by count only)
    readings: int = 0  # moving_average: the last N readings (0: by window only)
    direction: str = "both"  # rate_of_change
    horizon: float = 0.0  # forecast, seconds
    low: float | None = None  # moving_average against a band instead of a threshold
    high: float | None = None
    k: float = 3.0  # anomaly
    alpha: float = 0.1  # anomaly: the weight of a new reading in the mean and variance
    min_samples: int = 2
    device_ids: frozenset[str] | None = None
    conditions: tuple[Condition, ...] = ()
    state_key: str = DEFAULT_THRESHOLD_STATE_KEY
    _filter: Predicate | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Explicit base call: zero-argument super() fails in a slots dataclass (Python 3.11).
        StatefulRule.__post_init__(self)
        if self.kind not in TREND_TYPES:
            raise ValueError(f"unknown trend rule kind {self.kind!r}")
        tests = tuple(c.test for c in self.conditions)
        object.__setattr__(self, "_filter", all_of(tests) if tests else None)

    def alert_terms(self) -> AlertTerms:
        # The alert's value is the statistic (rate, mean, z-score, projection), judged
        # against the threshold (k for anomaly).
        limit = self.k if self.kind == "anomaly" else self.threshold
        return AlertTerms("trend", self.metric, self.operator, limit)

    @property
    def template_values(self) -> dict[str, object]:
        """The rule's own values a template may use."""
        return {
            "rule_id": self.id,
            "rule_name": self.name,
            "priority": self.priority,
            "metric": self.metric,
            "operator": self.operator,
            "threshold": self.threshold,
            "per": _seconds_text(self.per),
            "window": _seconds_text(self.window),
            "horizon": _seconds_text(self.horizon),
            "k": self.k,
            "low": self.low,
            "high": self.high,
        }

    def sample(self, event: object) -> Sampled | None:
        """The reading ``event`` gives this rule, or None when it gives none."""
        if not isinstance(event, Mapping):
            return None
        if self.device_ids is not None and _key_text(event.get("device_id")) not in self.device_ids:
            return None
        value = _number(metric_value(event, self.metric))
        if value is None or (self._filter is not None and not self._filter(event)):
            return None
        key = _key_text(self._key(event))
        if key is None:
            return None
        return Sampled(key, value, event_seconds(self._time(event)))

    def observe(self, event: object) -> Reading | None:
        """The raw reading, never holding.

        The stateful stage judges trend rules through alerts.trend_stage (the statistic
        needs the state in Redis); this keeps a trend rule usable as a ``StatefulRule``.
        """
        found = self.sample(event)
        if found is None:
            return None
        return Reading(found.key, False, False, found.value, found.at)

    # -- the statistics: None when there is not enough history yet -----------------------

    def statistic(self, samples: Sequence[Sample]) -> float | None:
        """The window kinds' statistic over ``samples`` (event-time order)."""
        if self.kind == "rate_of_change":
            return rate_of_change(samples, self.per, self.window / 2)
        if self.kind == "moving_average":
            return mean_of(samples, self.min_samples)
        if self.kind == "forecast":
            slope = least_squares_slope(samples, self.min_samples, self.window / 2)
            return None if slope is None else samples[-1][1] + slope * self.horizon
        raise ValueError(f"{self.kind} keeps no window")

    def holds(self, statistic: float) -> bool:
        """Whether the statistic is past the rule's limit."""
        if self.kind == "anomaly":
            return statistic > self.k
        if self.low is not None or self.high is not None:
            return (self.low is not None and statistic < self.low) or (
                self.high is not None and statistic > self.high
            )
        limit = self.threshold
        assert limit is not None  # the loader sets it for the other kinds
        if self.kind == "rate_of_change":
            if self.direction == "rising":
                return statistic >= limit
            if self.direction == "falling":
                return statistic <= -limit
            return abs(statistic) >= limit
        compare: Callable[[Any, Any], bool] = COMPARISONS[self.operator or ">"]
        return compare(statistic, limit)


def rate_of_change(samples: Sequence[Sample], per: float, min_span: float) -> float | None:
    """(v_last - v_first) / (t_last - t_first) * per, once the samples span ``min_span``."""
    if len(samples) < 2:
        return None
    (t_first, v_first), (t_last, v_last) = samples[0], samples[-1]
    span = t_last - t_first
    if span <= 0 or span < min_span:
        return None
    return (v_last - v_first) / span * per


def mean_of(samples: Sequence[Sample], min_samples: int) -> float | None:
    if len(samples) < max(min_samples, 1):
        return None
    return math.fsum(v for _, v in samples) / len(samples)


def least_squares_slope(
    samples: Sequence[Sample], min_samples: int, min_span: float
) -> float | None:
    """The slope (value per second) of the least-squares line through ``samples``."""
    if len(samples) < max(min_samples, 2) or samples[-1][0] - samples[0][0] < max(min_span, 1e-9):
        return None
    n = len(samples)
    mean_t = math.fsum(t for t, _ in samples) / n
    mean_v = math.fsum(v for _, v in samples) / n
    spread = math.fsum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return None
    return math.fsum((t - mean_t) * (v - mean_v) for t, v in samples) / spread


def z_score(value: float, mean: float, variance: float) -> float:
    """|value - mean| / std; infinite for any change after readings that never varied."""
    std = math.sqrt(max(variance, 0.0))
    if std == 0:
        return 0.0 if value == mean else math.inf
    return abs(value - mean) / std


def _seconds_text(seconds: float) -> str:
    """A duration as a rule states it: 10m, 30s, 1h."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
