"""What a loaded rule is: plain frozen records, everything compiled, nothing left to parse.

One hierarchy: ``BaseRule`` holds what every rule has (who it notifies and how it
words it); ``Rule`` is the stateless match rule, notified on every match. The stateful
rules (``rules.stateful``) derive from ``BaseRule`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from rules.grouping import GroupSpec, StormSpec
from rules.operators import Condition, Predicate
from rules.paths import MISSING, Getter
from rules.templates import Template, format_value
from rules.time_intervals import TimeInterval

Priority = Literal["high", "medium", "low"]
PRIORITIES: tuple[Priority, ...] = ("high", "medium", "low")

DEFAULT_DEDUP_KEY = "plate.normalized_text"
DEFAULT_SUBJECT = "[{priority}] {rule_name}"


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """One step of a rule's escalation: whom to notify if its alert is still open ``after``.

    ``channels`` holds only enabled channels; ``recipients`` replaces a channel's configured
    ones for this step only (else the rule's own, else the channel's).
    """

    after: float  # seconds after the alert opened (wall clock)
    channels: tuple[str, ...]
    recipients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A per-rule cooldown keyed on the value of ``dedup_key`` in the event."""

    cooldown_seconds: int
    dedup_key: str
    dedup: Getter

    def dedup_value(self, event: object) -> str | None:
        """The cooldown key's event part, or None when the event lacks the field."""
        value = self.dedup(event)
        if value is MISSING or value is None:
            return None
        return format_value(value)


# eq=False: rules compare and hash by identity; the engine hands back the very objects
# loaded. kw_only: subclasses add required fields after the base's defaulted ones.
@dataclass(frozen=True, slots=True, eq=False, kw_only=True)
class BaseRule:
    """What every rule has. ``channels`` holds only enabled channels, in ``notify`` order."""

    id: str
    name: str
    enabled: bool
    priority: Priority
    source: str
    channels: tuple[str, ...]
    message_template: Template
    subject_template: Template
    # channel -> recipients replacing that channel's configured ones, for this rule only.
    recipients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Position in the config file: the engine reports matches in this order.
    index: int = 0
    # A match opens an alert that someone acknowledges or rejects (stateful rules always do).
    acknowledge: bool = False
    # Reminder gaps while the alert is open and unacknowledged; the last gap repeats.
    repeat: tuple[float, ...] = ()
    escalation: tuple[EscalationStep, ...] = ()
    # Schedules (rules.time_intervals): armed only inside any active interval (when some
    # are listed), muted inside any mute interval; catch_up sends one summary of what a
    # mute interval held back when it ends (alerts.muting).
    active_time_intervals: tuple[TimeInterval, ...] = ()
    mute_time_intervals: tuple[TimeInterval, ...] = ()
    catch_up: bool = False
    # Send the resolve of an alert whose trigger was muted (silenced, muted, inhibited).
    resolve_when_silenced: bool = False

    @property
    def template_values(self) -> dict[str, object]:
        """The rule's own values a template may use: rule_id, rule_name, priority."""
        return {"rule_id": self.id, "rule_name": self.name, "priority": self.priority}

    def render_message(self, event: object, escape: Callable[[str], str] | None = None) -> str:
        return self.message_template.render(event, self.template_values, escape)

    def render_subject(self, event: object, escape: Callable[[str], str] | None = None) -> str:
        return self.subject_template.render(event, self.template_values, escape)


@dataclass(frozen=True, slots=True, eq=False, kw_only=True)
class Rule(BaseRule):
    """A stateless match rule: notified on every event that meets all its conditions."""

    conditions: tuple[Condition, ...]
    rate_limit: RateLimit | None = None
    # One message per group and window instead of one per match (rules/grouping.py).
    group: GroupSpec | None = None
    storm: StormSpec | None = None
    # All conditions in one predicate, built from ``conditions``: the engine's hot path.
    matches: Predicate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matches", all_of(tuple(c.test for c in self.conditions)))


def all_of(predicates: tuple[Predicate, ...]) -> Predicate:
    """One predicate that is true when every one of ``predicates`` is (true when empty)."""
    if not predicates:
        return lambda event: True
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda event: first(event) and second(event)
    if len(predicates) == 3:
        p0, p1, p2 = predicates
        return lambda event: p0(event) and p1(event) and p2(event)

    def every(event: object) -> bool:
        for predicate in predicates:  # noqa: SIM110 - all() would allocate a generator per call
            if not predicate(event):
                return False
        return True

    return every
