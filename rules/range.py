"""``type: range``: a device metric kept inside a band, with warning and critical levels.

A level is a band (``low`` and/or ``high``) with a severity, its own channels, its own
hysteresis, ``for_seconds`` and ``repeat_interval``. A reading *breaches* a level when it is
below ``low`` or above ``high``; it *clears* it once back inside the band by at least
``hysteresis`` on both sides. Levels are kept in severity order (warning, then critical),
so the lifecycle (alerts.levels) can move one alert up and down between them.

Per-device ``overrides`` replace a level's bounds for one device; each level records where
its bounds came from (``rule`` or ``override for <device>``) so the alert can say which
limit applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rules.model import all_of
from rules.operators import Condition, Predicate
from rules.stateful import (
    DEFAULT_THRESHOLD_STATE_KEY,
    RULE_LIMIT,
    AlertTerms,
    Reading,
    StatefulRule,
    _key_text,
    _number,
    event_seconds,
    metric_value,
)

# Lowest first: a level's rank is its position here (the lifecycle stores the rank).
SEVERITIES: tuple[str, ...] = ("warning", "critical")

RANGE_MESSAGE = (
    "[{severity}] {rule_name}: {device_id} {metric} = {current_value}, "
    "outside {band} ({limit_source})"
)
RANGE_RESOLVE = "RESOLVED {rule_name}: {device_id} {metric} = {current_value} after {duration}"
RANGE_NO_DATA = "{rule_name}: no data from {device_id} for {silence}"


@dataclass(frozen=True, slots=True)
class Level:
    """One band of a range rule and how its alerts are notified."""

    severity: str
    low: float | None
    high: float | None
    channels: tuple[str, ...]
    hysteresis: float = 0.0
    for_seconds: float = 0.0
    repeat_interval: float = 0.0
    limit_source: str = RULE_LIMIT  # "rule", or "override for <device>"

    def breached(self, value: float) -> bool:
        """Outside the band: below ``low`` or above ``high``."""
        return (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        )

    def cleared(self, value: float) -> bool:
        """Back inside the band by at least ``hysteresis`` on each bounded side."""
        margin = self.hysteresis
        return (self.low is None or value >= self.low + margin) and (
            self.high is None or value <= self.high - margin
        )

    def crossed(self, value: float) -> float | None:
        """The bound ``value`` is beyond, or None when inside the band."""
        if self.low is not None and value < self.low:
            return self.low
        if self.high is not None and value > self.high:
            return self.high
        return None

    @property
    def band(self) -> str:
        """The band as a person reads it: "25..27", ">= 25", "<= 27"."""
        if self.low is not None and self.high is not None:
            return f"{self.low:g}..{self.high:g}"
        if self.low is not None:
            return f">= {self.low:g}"
        return f"<= {self.high:g}"


@dataclass(frozen=True, slots=True)
class LevelReading:
    """One reading of a range rule: which levels it breaches and clears, by rank."""

    key: str
    value: float
    at: float | None
    levels: tuple[Level, ...]  # the levels that applied to this device, by rank
    breaches: tuple[bool, ...]
    clears: tuple[bool, ...]


@dataclass(frozen=True, slots=True, eq=False, kw_only=True)
class RangeRule(StatefulRule):
    """``type: range``: one alert per device that moves between the levels it breaches.

    ``channels`` holds every channel of every level, in order; ``for_seconds`` and
    ``repeat_interval`` are the defaults of the levels, each of which has its own.
    """

    metric: str
    levels: tuple[Level, ...]  # by rank, lowest first
    # device id -> the levels that device uses instead of ``levels``.
    overrides: Mapping[str, tuple[Level, ...]] = field(default_factory=dict)
    device_ids: frozenset[str] | None = None
    conditions: tuple[Condition, ...] = ()
    state_key: str = DEFAULT_THRESHOLD_STATE_KEY
    _filter: Predicate | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Explicit base call: zero-argument super() fails in a slots dataclass (Python 3.11).
        StatefulRule.__post_init__(self)
        if not self.levels:
            raise ValueError("a range rule needs at least one level")
        tests = tuple(c.test for c in self.conditions)
        object.__setattr__(self, "_filter", all_of(tests) if tests else None)

    def alert_terms(self) -> AlertTerms:
        # No single limit: the level in effect names it (alerts.level_stage).
        return AlertTerms("range", self.metric)

    @property
    def template_values(self) -> dict[str, object]:
        """The rule's own values a template may use."""
        return {
            "rule_id": self.id,
            "rule_name": self.name,
            "priority": self.priority,
            "metric": self.metric,
        }

    def levels_for(self, device: str) -> tuple[Level, ...]:
        """The levels of ``device``: its override when the rule has one, else the rule's."""
        return self.overrides.get(device, self.levels)

    def observe_levels(self, event: object) -> LevelReading | None:
        """This rule's evaluation of ``event``, or None when ``event`` is not one.

        Not an evaluation: not a mapping, a device not in ``device_id``, no numeric value
        for the metric, the extra ``conditions`` not all holding, no state key value.
        """
        if not isinstance(event, Mapping):
            return None
        device = _key_text(event.get("device_id"))
        if self.device_ids is not None and device not in self.device_ids:
            return None
        value = _number(metric_value(event, self.metric))
        if value is None:
            return None
        if self._filter is not None and not self._filter(event):
            return None
        key = _key_text(self._key(event))
        if key is None:
            return None
        levels = self.levels_for(device) if device is not None else self.levels
        return LevelReading(
            key=key,
            value=value,
            at=event_seconds(self._time(event)),
            levels=levels,
            breaches=tuple(level.breached(value) for level in levels),
            clears=tuple(level.cleared(value) for level in levels),
        )

    def observe(self, event: object) -> Reading | None:
        """The single-level view: holds when the lowest level is breached.

        The stateful stage uses ``observe_levels`` for range rules; this keeps a range
        rule usable wherever a ``StatefulRule`` is expected (the no-data sweep).
        """
        found = self.observe_levels(event)
        if found is None:
            return None
        return Reading(found.key, found.breaches[0], found.clears[0], found.value, found.at)
