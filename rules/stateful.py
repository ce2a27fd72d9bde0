"""Stateful rules: a threshold on a device metric, or a match rule with a ``state_key``.

A stateful rule is not "matched" like a stateless one: it is *observed* on every event of
its source that it can evaluate, matching or not, because a reading back below the
threshold is what resolves an alert. ``observe(event)`` returns a ``Reading`` (the key,
whether the alert condition holds, whether the resolve condition holds, the value and
the event time), or None when the event is no evaluation of the rule at all. The
lifecycle (alerts.lifecycle) turns readings into trigger / resolve; reminders and
escalation steps come from the sweep (alerts.followups).

``StatefulRule`` is what the lifecycle, the stateful stage and the no-data sweep work
with; ``ThresholdRule`` and ``StatefulMatchRule`` are two of its kinds, ``RangeRule``
(rules.range) and ``TrendRule`` (rules.trends) the others. rules.kinds names them all.
"""

from __future__ import annotations

import datetime as dt
import math
import operator as op
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from rules.model import BaseRule, all_of
from rules.operators import Condition, Predicate
from rules.paths import MISSING, Getter, compile_path
from rules.templates import Template

DEFAULT_THRESHOLD_TOPIC = "devices.readings"
DEFAULT_THRESHOLD_STATE_KEY = "device_id"
DEFAULT_TIMESTAMP_FIELD = "timestamp"

THRESHOLD_MESSAGE = "{rule_name}: {device_id} {metric} = {current_value} ({operator} {threshold})"
# The default of a rule with per-device overrides: it says which limit applied.
THRESHOLD_OVERRIDE_MESSAGE = (
    "{rule_name}: {device_id} {metric} = {current_value} ({operator} {threshold}, {limit_source})"
)
# Where a limit came from: the rule itself, or f"override for {device}".
RULE_LIMIT = "rule"
THRESHOLD_RESOLVE = "RESOLVED {rule_name}: {device_id} {metric} = {current_value} after {duration}"
THRESHOLD_NO_DATA = "{rule_name}: no data from {device_id} for {silence}"
MATCH_RESOLVE = "RESOLVED {rule_name}: {state_key} after {duration}"
MATCH_NO_DATA = "{rule_name}: no data from {state_key} for {silence}"

# The comparison of each operator, picked once at load: holds = compare(value, threshold).
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": op.gt,
    ">=": op.ge,
    "<": op.lt,
    "<=": op.le,
    "==": op.eq,
    "!=": op.ne,
}
# The word forms a rule may use instead; normalised to the symbol at load.
OPERATOR_WORDS: dict[str, str] = {
    "greater_than": ">",
    "greater_or_equal": ">=",
    "less_than": "<",
    "less_or_equal": "<=",
    "equals": "==",
    "not_equals": "!=",
}


# -- durations ----------------------------------------------------------------------------

_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd])\s*\Z")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_EXPECTED = "expected a number of seconds or a duration like 45s, 30m, 1h or 2d"


def parse_duration(value: object) -> float | None:
    """Seconds from a number (int or float, not bool) or "45s" / "30m" / "1h" / "2d".

    None when ``value`` is neither; a negative number comes back as is (the caller checks).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value) if math.isfinite(value) else None
        except OverflowError:
            return None
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found is not None:
            return float(found.group(1)) * _UNIT_SECONDS[found.group(2)]
    return None


# -- reading events -----------------------------------------------------------------------


_FIRST_SECOND = dt.datetime.min.replace(tzinfo=dt.UTC).timestamp()
_LAST_SECOND = dt.datetime.max.replace(tzinfo=dt.UTC).timestamp()


def event_seconds(value: object) -> float | None:
    """An event time in epoch seconds, or None when absent or unreadable.

    fastavro decodes ``timestamp-millis`` to an aware datetime; JSON events carry epoch
    milliseconds (int or float) or an ISO 8601 string. A naive datetime is taken as UTC.
    A time outside what a datetime holds (years 1-9999 UTC) is unreadable: it could be
    neither shown in a message nor sent on.
    """
    seconds = _seconds(value)
    if seconds is None or not _FIRST_SECOND <= seconds <= _LAST_SECOND:  # NaN fails too
        return None
    return seconds


def _seconds(value: object) -> float | None:
    if type(value) is int or type(value) is float:  # exactly: not a bool
        try:
            return value / 1000.0
        except OverflowError:  # an int too large for a float
            return None
    if isinstance(value, dt.datetime):
        return _aware(value).timestamp()
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return _aware(parsed).timestamp()
    return None  # absent (MISSING), None, bool, anything else


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def metric_value(event: Mapping[str, object], metric: str) -> object:
    """The raw value of ``metric`` in a device reading, MISSING when the event has none.

    In this order, as Bella's Reef's alert worker reads a reading: ``value`` when the
    event's ``metric`` is this metric (and the value is set), else ``json_value[metric]``,
    else ``metadata[metric]``. A value found in one place is final even when it is not a
    number: the next place is only tried when this one lacks the metric.
    """
    if event.get("metric") == metric:
        value = event.get("value")
        if value is not None:
            return value
    for place in ("json_value", "metadata"):
        container = event.get(place)
        if isinstance(container, Mapping) and metric in container:
            return container[metric]
    return MISSING


def _number(value: object) -> float | None:
    """``value`` as a float when it is an int or a float (not a bool, not NaN)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            return None
        return None if math.isnan(number) else number
    return None


def _key_text(value: object) -> str | None:
    if value is MISSING or value is None:
        return None
    return value if isinstance(value, str) else str(value)


# -- the rules ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """One evaluation of a stateful rule against one event, for one key (device, camera)."""

    key: str
    holds: bool  # the alert condition holds
    clears: bool  # the resolve condition holds (``not holds`` unless hysteresis)
    value: float | None  # the metric's value, for threshold rules
    at: float | None  # event time in seconds, when the event has one
    limit: float | None = None  # the threshold that applied (a device's override or the rule's)
    limit_source: str | None = None  # "rule" or "override for <device>"


@dataclass(frozen=True, slots=True)
class AlertTerms:
    """How a rule's alert describes itself: its kind and, for a threshold, what it measures."""

    kind: Literal["threshold", "match", "range", "trend"]
    metric: str | None = None
    operator: str | None = None
    threshold: float | None = None


MATCH_TERMS = AlertTerms("match")


@dataclass(frozen=True, slots=True, eq=False, kw_only=True)
class StatefulRule(BaseRule, ABC):
    """A rule with an alert per state key value: observed on every event it can evaluate."""

    resolve_template: Template
    no_data_template: Template
    state_key: str  # a dot path: the alert's key
    timestamp_field: str = DEFAULT_TIMESTAMP_FIELD  # a dot path: the event time
    notify_on_resolve: bool = False
    for_seconds: float = 0.0
    no_data_seconds: float = 0.0  # 0: no no-data alerts
    # Keys (devices) that get a no-data alert even when they never report at all.
    expected_devices: tuple[str, ...] = ()
    _key: Getter = field(init=False, repr=False)
    _time: Getter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", compile_path(self.state_key))
        object.__setattr__(self, "_time", compile_path(self.timestamp_field))

    @abstractmethod
    def observe(self, event: object) -> Reading | None:
        """The evaluation of ``event``, or None when the event is not one (no metric, no key)."""

    @abstractmethod
    def alert_terms(self) -> AlertTerms:
        """What this rule's alerts carry besides their key (alert events, templates)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The threshold (and resolve threshold) a threshold rule applies to one device."""

    threshold: float
    resolve_threshold: float | None = None
    source: str = RULE_LIMIT  # "rule", or "override for <device>"


@dataclass(frozen=True, slots=True, eq=False, kw_only=True)
class ThresholdRule(StatefulRule):
    """``type: threshold``: ``<metric> <operator> <threshold>`` per device (or state key)."""

    metric: str
    operator: str  # the symbol: >, >=, <, <=, == or != (a word form is normalised)
    threshold: float
    resolve_threshold: float | None = None
    # None: every device; else the accepted device ids (as text).
    device_ids: frozenset[str] | None = None
    conditions: tuple[Condition, ...] = ()
    state_key: str = DEFAULT_THRESHOLD_STATE_KEY
    # State key value (device) -> the limits it uses instead of the rule's.
    overrides: Mapping[str, Limits] = field(default_factory=dict)
    _holds: Callable[[float, float], bool] = field(init=False, repr=False)
    _limits: Limits = field(init=False, repr=False)
    _filter: Predicate | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Explicit base call: zero-argument super() fails in a slots dataclass (Python 3.11).
        StatefulRule.__post_init__(self)
        symbol = OPERATOR_WORDS.get(self.operator, self.operator)
        if symbol not in COMPARISONS:
            raise ValueError(f"unknown threshold operator {self.operator!r}")
        object.__setattr__(self, "operator", symbol)
        object.__setattr__(self, "_holds", COMPARISONS[symbol])
        tests = tuple(c.test for c in self.conditions)
        object.__setattr__(self, "_filter", all_of(tests) if tests else None)
        object.__setattr__(self, "_limits", Limits(self.threshold, self.resolve_threshold))

    def limits_for(self, key: str) -> Limits:
        """The limits of ``key`` (a device): its override when the rule has one, else the rule's."""
        return self.overrides.get(key, self._limits)

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
            "limit_source": RULE_LIMIT,
        }

    def alert_terms(self) -> AlertTerms:
        return AlertTerms("threshold", self.metric, self.operator, self.threshold)

    def observe(self, event: object) -> Reading | None:
        """This rule's evaluation of ``event``, or None when ``event`` is not one.

        Not an evaluation: not a mapping, a device not in ``device_id``, no numeric value
        for the metric, the extra ``conditions`` not all holding, no state key value.
        The state key value's override, when the rule has one, gives the limits.
        """
        if not isinstance(event, Mapping):
            return None
        devices = self.device_ids
        if devices is not None and _key_text(event.get("device_id")) not in devices:
            return None
        value = _number(metric_value(event, self.metric))
        if value is None:
            return None
        check = self._filter
        if check is not None and not check(event):
            return None
        key = _key_text(self._key(event))
        if key is None:
            return None
        limits = self.limits_for(key)
        holds = self._holds(value, limits.threshold)
        resolve_limit = limits.resolve_threshold
        clears = not holds if resolve_limit is None else not self._holds(value, resolve_limit)
        at = event_seconds(self._time(event))
        return Reading(key, holds, clears, value, at, limits.threshold, limits.source)


@dataclass(frozen=True, slots=True, eq=False, kw_only=True)
class StatefulMatchRule(StatefulRule):
    """``type: match`` with ``state_key``: an alert per key value that holds while matching."""

    conditions: tuple[Condition, ...]
    matches: Predicate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        StatefulRule.__post_init__(self)
        object.__setattr__(self, "matches", all_of(tuple(c.test for c in self.conditions)))

    def alert_terms(self) -> AlertTerms:
        return MATCH_TERMS

    def observe(self, event: object) -> Reading | None:
        """Holds when the conditions match; None when the event lacks the state key."""
        key = _key_text(self._key(event))
        if key is None:
            return None
        holds = self.matches(event)
        return Reading(key, holds, not holds, None, event_seconds(self._time(event)))
