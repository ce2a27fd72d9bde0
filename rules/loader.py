"""Read the ``rules:`` list of a config file into compiled rules, reporting every problem.

Every problem names the rule id (or None when the id itself is missing or not a string)
and the full field path, e.g. ``rules[0].conditions[1].operator``. A rule with any error
is left out of the result; the caller refuses a config with errors anyway.

Three kinds come out, in config order:

- ``type: match`` (the default) without ``state_key``: a stateless ``Rule``, notified on
  every match (with an optional ``rate_limit`` cooldown);
- ``type: match`` with ``state_key``: a ``StatefulMatchRule``, an alert per state key value
  that triggers when the conditions match and resolves when they stop matching;
- ``type: threshold``: a ``ThresholdRule`` on a device metric (see rules.stateful);
- ``type: range``: a ``RangeRule``, a band or warning/critical levels (rules.range_loader);
- ``type: rate_of_change``, ``moving_average``, ``anomaly``, ``forecast``: a ``TrendRule``
  (rules.trend_loader).

The fields are read in ``rules.rule_fields`` (every kind) and ``rules.stateful_fields``;
each kind in its own ``rules.*_loader`` module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import cast

from contract.mapping import MappingReader
from contract.problems import ProblemSink
from rules.kinds import AnyRule
from rules.match_loader import load_match, load_stateful_match
from rules.model import PRIORITIES, Priority
from rules.operators import show, unknown_choice
from rules.range_loader import load_range
from rules.rule_fields import ChannelDirectory, _Common
from rules.stateful import DEFAULT_THRESHOLD_TOPIC
from rules.stateful_fields import _StatefulFields
from rules.threshold_loader import load_threshold
from rules.time_intervals import TimeInterval
from rules.trend_loader import load_trend
from rules.trends import TREND_TYPES
from rules.watchlists.section import Watchlist

__all__ = ["RULE_TYPES", "ChannelDirectory", "load_rules"]

RULE_TYPES = ["match", "threshold", "range", *TREND_TYPES]


def load_rules(
    items: object,
    sink: ProblemSink,
    channels: ChannelDirectory,
    default_topic: str,
    watchlists: Mapping[str, Watchlist] | None = None,
    time_intervals: Mapping[str, TimeInterval] | None = None,
) -> tuple[AnyRule, ...]:
    """Compile the ``rules:`` list; problems go to ``sink``.

    ``default_topic`` is the source of match rules without one; threshold rules default
    to ``devices.readings``.
    """
    if not isinstance(items, list):
        sink.error("rules", f"expected a list of rules, got {show(items)}")
        return ()
    if not items:
        sink.warn("rules", "no rules are defined: no event will ever match")
    seen: dict[str, int] = {}
    rules: list[AnyRule] = []
    for index, item in enumerate(items):
        rule = _RuleLoader(
            item,
            index,
            sink=sink,
            channels=channels,
            default_topic=default_topic,
            seen=seen,
            watchlists=watchlists if watchlists is not None else {},
            time_intervals=time_intervals if time_intervals is not None else {},
        ).load()
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


class _RuleLoader(_StatefulFields):
    """Reads one rule of the list: the common fields, then those of its kind."""

    def load(self) -> AnyRule | None:
        if not isinstance(self.data, dict):
            self.sink.error(self.where, f"expected a mapping (one rule), got {show(self.data)}")
            return None
        raw_id = self.data.get("id")
        rule_id = raw_id if isinstance(raw_id, str) and raw_id else None
        reader = MappingReader(self.data, self.where, self.sink, rule_id)
        first_problem = len(self.sink.problems)

        self._check_id(reader)
        name = reader.optional("name", str, rule_id or "")
        enabled = reader.optional("enabled", bool, True)
        kind = reader.optional("type", str, "match")
        if kind not in RULE_TYPES:
            reader.error("type", unknown_choice("rule type", kind, RULE_TYPES))
        priority = reader.optional("priority", str, "medium")
        if priority not in PRIORITIES:
            reader.error("priority", unknown_choice("priority", priority, list(PRIORITIES)))
        device_kinds = ("threshold", "range", *TREND_TYPES)
        default_source = DEFAULT_THRESHOLD_TOPIC if kind in device_kinds else self.default_topic
        source = reader.optional("source", str, default_source)
        if not source:
            reader.error("source", "must not be empty")
        notified, channels = self._notify(reader, enabled)
        common = _Common(
            id=rule_id or "",
            name=name,
            enabled=enabled,
            priority=cast(Priority, priority),  # checked above; a bad one leaves no rule
            source=source,
            channels=channels,
            index=self.index,
        )
        rule: AnyRule | None
        if kind not in RULE_TYPES:
            # Which keys belong depends on the type: only the type itself is reported.
            for key in self.data:
                reader.has(key)
            rule = None
        elif kind == "threshold":
            rule = load_threshold(self, reader, common)
        elif kind == "range":
            rule = load_range(self, reader, common)
        elif kind in TREND_TYPES:
            rule = load_trend(self, reader, common, kind)
        elif reader.has("state_key"):
            rule = load_stateful_match(self, reader, common)
        else:
            rule = load_match(self, reader, common)
        recipients = self._recipients(reader, notified, channels)
        schedule = self._schedule(reader, stateful=kind == "threshold" or reader.has("state_key"))
        reader.finish()

        problems = self.sink.problems[first_problem:]
        if any(not p.warning for p in problems) or rule_id is None or rule is None:
            return None
        return replace(
            rule,
            recipients=recipients,
            active_time_intervals=schedule.active,
            mute_time_intervals=schedule.muted,
            catch_up=schedule.catch_up,
            resolve_when_silenced=schedule.resolve_when_silenced,
        )
