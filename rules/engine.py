"""Match events against compiled rules: the bridge's hot path.

Rules are grouped by source topic. Within a topic, a rule with an ``equals`` or an
all-string ``in_list`` condition is filed in a dict under each value that condition
accepts, so 100 watchlist rules on ``plate.normalized_text`` cost one getter call and one
dict lookup per event, not 100 predicate calls. Other rules are grouped by the field of
their first condition: that field is read once per event for the group, then each rule's
check runs on the value; rules whose first condition is a ``regex`` are searched together,
one RE2 set per field (``rules.linear_regex.RegexSet``). Matches come back in config order.

Stateful rules (threshold rules, match rules with a ``state_key``) are not matched here:
``evaluate`` returns stateless rules only, and ``stateful(topic)`` hands the stateful
ones to the stage that observes them on every event of their topic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

from rules.kinds import AnyRule
from rules.linear_regex import LinearRegex, RegexSet
from rules.model import Rule, all_of
from rules.operators import Condition, Predicate
from rules.paths import Getter
from rules.stateful import StatefulRule

_ORDER = attrgetter("index")

# (rule, the rule's other conditions or None): the dict lookup did the indexed check.
_Indexed = tuple[Rule, Predicate | None]
# (rule, check of the field value its group read, the rule's other conditions or None)
_Scanned = tuple[Rule, Predicate, Predicate | None]


@dataclass(frozen=True, slots=True)
class _TopicPlan:
    rules: tuple[Rule, ...]
    # One (getter, value -> entries) per indexed field path.
    indexes: tuple[tuple[Getter, dict[str, tuple[_Indexed, ...]]], ...]
    # One (getter, entries) per field path that other rules test first.
    scans: tuple[tuple[Getter, tuple[_Scanned, ...]], ...]
    # One (getter, set of the first conditions' patterns, entries in the set's order) per
    # field path that two or more rules search with a regex first.
    regex_sets: tuple[tuple[Getter, RegexSet, tuple[_Indexed, ...]], ...]
    # Matches from several groups can come out of config order and need a sort.
    mixed: bool


def _rest(rule: Rule, used: Condition) -> Predicate | None:
    others = tuple(c.test for c in rule.conditions if c is not used)
    return all_of(others) if others else None


def _first_regex(rule: Rule) -> LinearRegex | None:
    first = rule.conditions[0]
    return (
        first.value if first.operator == "regex" and isinstance(first.value, LinearRegex) else None
    )


def _regex_sets(
    rules: list[Rule],
) -> tuple[tuple[tuple[Getter, RegexSet, tuple[_Indexed, ...]], ...], set[int]]:
    """The RE2 sets of the fields two or more unindexed rules search first; their rules' ids."""
    by_field: dict[str, list[Rule]] = {}
    for rule in rules:
        if all(c.index_values is None for c in rule.conditions) and _first_regex(rule):
            by_field.setdefault(rule.conditions[0].field, []).append(rule)
    sets = []
    taken: set[int] = set()
    for field_rules in by_field.values():
        if len(field_rules) < 2:
            continue
        patterns = [r.conditions[0].value for r in field_rules]
        entries = tuple((r, _rest(r, r.conditions[0])) for r in field_rules)
        regex_set = RegexSet([p for p in patterns if isinstance(p, LinearRegex)])
        sets.append((field_rules[0].conditions[0].getter, regex_set, entries))
        taken.update(id(r) for r in field_rules)
    return tuple(sets), taken


def _plan(rules: list[Rule]) -> _TopicPlan:
    tables: dict[str, tuple[Getter, dict[str, list[_Indexed]]]] = {}
    scans: dict[str, tuple[Getter, list[_Scanned]]] = {}
    regex_sets, in_sets = _regex_sets(rules)
    for rule in rules:
        if id(rule) in in_sets:
            continue
        key = next((c for c in rule.conditions if c.index_values is not None), None)
        if key is not None and key.index_values is not None:
            _, table = tables.setdefault(key.field, (key.getter, {}))
            entry = (rule, _rest(rule, key))
            for value in key.index_values:
                table.setdefault(value, []).append(entry)
        else:
            first = rule.conditions[0]
            _, entries = scans.setdefault(first.field, (first.getter, []))
            entries.append((rule, first.check, _rest(rule, first)))
    indexes = tuple(
        (getter, {value: tuple(entries) for value, entries in table.items()})
        for getter, table in tables.values()
    )
    return _TopicPlan(
        rules=tuple(rules),
        indexes=indexes,
        scans=tuple((getter, tuple(entries)) for getter, entries in scans.values()),
        regex_sets=regex_sets,
        mixed=len(tables) + len(scans) + len(regex_sets) > 1,
    )


class RuleEngine:
    """Evaluates events from a topic against the enabled rules for that topic."""

    def __init__(self, rules: Iterable[AnyRule]) -> None:
        by_topic: dict[str, list[Rule]] = {}
        stateful: list[StatefulRule] = []
        stateful_by_topic: dict[str, list[StatefulRule]] = {}
        for rule in rules:
            if not rule.enabled:
                continue
            if isinstance(rule, StatefulRule):
                stateful.append(rule)
                stateful_by_topic.setdefault(rule.source, []).append(rule)
            else:
                by_topic.setdefault(rule.source, []).append(rule)
        self._plans = {topic: _plan(topic_rules) for topic, topic_rules in by_topic.items()}
        self._stateful = {topic: tuple(items) for topic, items in stateful_by_topic.items()}
        self._all_stateful = tuple(stateful)
        self._topics = frozenset(self._plans) | frozenset(self._stateful)

    @property
    def topics(self) -> frozenset[str]:
        """The topics that at least one enabled rule reads, stateless or stateful."""
        return self._topics

    def rules_for(self, topic: str) -> tuple[Rule, ...]:
        """The enabled stateless rules of ``topic``, in config order."""
        plan = self._plans.get(topic)
        return plan.rules if plan is not None else ()

    def stateful(self, topic: str) -> tuple[StatefulRule, ...]:
        """The enabled stateful rules of ``topic``, in config order: observe every event."""
        return self._stateful.get(topic, ())

    def stateful_rules(self) -> tuple[StatefulRule, ...]:
        """Every enabled stateful rule, all topics, in config order (for the no-data sweep)."""
        return self._all_stateful

    def evaluate(self, topic: str, event: object) -> list[Rule]:
        """The enabled stateless rules of ``topic`` that ``event`` matches, in config order."""
        plan = self._plans.get(topic)
        if plan is None:
            return []
        matched: list[Rule] = []
        for get, table in plan.indexes:
            value = get(event)
            if isinstance(value, str):
                candidates = table.get(value)
                if candidates is not None:
                    for rule, rest in candidates:
                        if rest is None or rest(event):
                            matched.append(rule)
        for get, scanned in plan.scans:
            value = get(event)
            for rule, check, rest in scanned:
                if check(value) and (rest is None or rest(event)):
                    matched.append(rule)
        for get, regex_set, entries in plan.regex_sets:
            value = get(event)
            if isinstance(value, str):
                for index in regex_set.matching(value):
                    rule, rest = entries[index]
                    if rest is None or rest(event):
                        matched.append(rule)
        if plan.mixed and len(matched) > 1:
            matched.sort(key=_ORDER)
        return matched
