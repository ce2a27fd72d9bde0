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
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import cast

from contract.mapping import MappingReader
from contract.problems import ProblemSink
from rules.group_config import load_group, load_storm
from rules.kinds import AnyRule
from rules.model import (
    DEFAULT_DEDUP_KEY,
    DEFAULT_SUBJECT,
    PRIORITIES,
    EscalationStep,
    Priority,
    RateLimit,
    Rule,
)
from rules.operators import (
    NO_VALUE,
    Condition,
    ConditionError,
    compile_condition,
    show,
    unknown_choice,
)
from rules.paths import PathError, compile_path
from rules.range_loader import load_range
from rules.side_files import read_ids, resolve
from rules.stateful import (
    COMPARISONS,
    DEFAULT_THRESHOLD_STATE_KEY,
    DEFAULT_THRESHOLD_TOPIC,
    DEFAULT_TIMESTAMP_FIELD,
    DURATION_EXPECTED,
    MATCH_NO_DATA,
    MATCH_RESOLVE,
    OPERATOR_WORDS,
    THRESHOLD_MESSAGE,
    THRESHOLD_NO_DATA,
    THRESHOLD_OVERRIDE_MESSAGE,
    THRESHOLD_RESOLVE,
    StatefulMatchRule,
    ThresholdRule,
    parse_duration,
)
from rules.templates import Template, TemplateError, compile_template
from rules.threshold_overrides import load_threshold_overrides, wrong_side
from rules.time_intervals import TimeInterval
from rules.trend_loader import load_trend
from rules.trends import TREND_TYPES
from rules.watchlists.operator import OPERATOR as IN_WATCHLIST
from rules.watchlists.operator import compile_in_watchlist
from rules.watchlists.section import Watchlist

# Rule ids end up in Redis keys, task ids and metric labels: keep them plain.
_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
RULE_TYPES = ["match", "threshold", "range", *TREND_TYPES]
THRESHOLD_OPERATORS = [*COMPARISONS, *OPERATOR_WORDS]

# Keys of stateful rules (threshold, or match with state_key) only.
_STATEFUL_KEYS = (
    "notify_on_resolve",
    "resolve_template",
    "no_data_template",
    "for_seconds",
    "no_data_seconds",
    "expected_devices",
    "expected_devices_file",
    "timestamp_field",
)
# Keys of alerts someone acknowledges: stateful rules, or match rules with acknowledge: true.
_FOLLOW_UP_KEYS = ("repeat", "repeat_interval", "escalation")
# Keys of threshold rules only.
_THRESHOLD_KEYS = ("metric", "operator", "threshold", "resolve_threshold", "device_id")
# Keys of stateless match rules only: a stateful rule already sends one message per alert.
_GROUP_KEYS = ("group", "group_template", "storm")
_GROUP_MISPLACED = (
    "only applies to match rules without state_key: a stateful rule already notifies once "
    "per alert, not per match"
)


@dataclass(frozen=True)
class ChannelDirectory:
    """What the rules may name in ``notify``."""

    # Every registered channel -> whether a rule may override its recipients.
    known: Mapping[str, bool]
    # Every channel configured under ``notifications`` -> whether it is enabled.
    configured: Mapping[str, bool]


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


@dataclass(frozen=True)
class _Common:
    """What every kind of rule reads the same way."""

    id: str
    name: str
    enabled: bool
    priority: Priority
    source: str
    channels: tuple[str, ...]
    index: int


@dataclass(frozen=True)
class _Lifecycle:
    """The keys of a stateful rule's alert lifecycle."""

    resolve_template: Template
    no_data_template: Template
    timestamp_field: str
    notify_on_resolve: bool
    for_seconds: float
    no_data_seconds: float
    expected_devices: tuple[str, ...]


@dataclass(frozen=True)
class _Schedule:
    """The keys that mute a rule (alerts.muting), read the same way for every kind."""

    active: tuple[TimeInterval, ...]
    muted: tuple[TimeInterval, ...]
    catch_up: bool
    resolve_when_silenced: bool


@dataclass(frozen=True)
class _FollowUps:
    """What happens to an open alert until someone acknowledges it."""

    acknowledge: bool
    repeat: tuple[float, ...]
    escalation: tuple[EscalationStep, ...]


class _RuleLoader:
    def __init__(
        self,
        data: object,
        index: int,
        *,
        sink: ProblemSink,
        channels: ChannelDirectory,
        default_topic: str,
        seen: dict[str, int],
        watchlists: Mapping[str, Watchlist],
        time_intervals: Mapping[str, TimeInterval],
    ) -> None:
        self.watchlists = watchlists
        self.time_intervals = time_intervals
        self.data = data
        self.index = index
        self.where = f"rules[{index}]"
        self.sink = sink
        self.channels = channels
        self.default_topic = default_topic
        self.seen = seen

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
            rule = self._threshold(reader, common)
        elif kind == "range":
            rule = load_range(self, reader, common)
        elif kind in TREND_TYPES:
            rule = load_trend(self, reader, common, kind)
        elif reader.has("state_key"):
            rule = self._stateful_match(reader, common)
        else:
            rule = self._match(reader, common)
        stateful = kind in device_kinds or reader.has("state_key")
        follow_ups = self._follow_ups(reader, stateful, enabled, kind)
        recipients = self._recipients(reader, notified, channels)
        schedule = self._schedule(reader, stateful=stateful)
        reader.finish()

        problems = self.sink.problems[first_problem:]
        if any(not p.warning for p in problems) or rule_id is None or rule is None:
            return None
        return replace(
            rule,
            recipients=recipients,
            acknowledge=follow_ups.acknowledge,
            repeat=follow_ups.repeat,
            escalation=follow_ups.escalation,
            active_time_intervals=schedule.active,
            mute_time_intervals=schedule.muted,
            catch_up=schedule.catch_up,
            resolve_when_silenced=schedule.resolve_when_silenced,
        )

    # -- the three kinds --------------------------------------------------------------

    def _match(self, reader: MappingReader, common: _Common) -> Rule | None:
        """A stateless match rule."""
        self._misplaced(
            reader,
            _STATEFUL_KEYS,
            "only applies to stateful rules: set state_key, or use type: threshold",
        )
        self._misplaced(
            reader, _THRESHOLD_KEYS, "only applies to threshold rules (type: threshold)"
        )
        conditions = self._conditions(reader, required=True)
        message = self._template(reader, "message_template", None)
        subject = self._template(reader, "subject_template", DEFAULT_SUBJECT)
        rate_limit = self._rate_limit(reader)
        group = load_group(reader, self.sink)
        storm = load_storm(reader, self.sink, group)
        if message is None or subject is None:
            return None
        return Rule(
            id=common.id,
            name=common.name,
            enabled=common.enabled,
            priority=common.priority,
            source=common.source,
            channels=common.channels,
            conditions=conditions,
            message_template=message,
            subject_template=subject,
            rate_limit=rate_limit,
            group=group,
            storm=storm,
            index=common.index,
        )

    def _stateful_match(self, reader: MappingReader, common: _Common) -> StatefulMatchRule | None:
        """A match rule with state_key: one alert per value of the state key."""
        state_key = self._path(reader, "state_key", "")
        self._misplaced(
            reader, _THRESHOLD_KEYS, "only applies to threshold rules (type: threshold)"
        )
        self._misplaced(reader, _GROUP_KEYS, _GROUP_MISPLACED)
        if reader.has("rate_limit"):
            reader.error(
                "rate_limit",
                "cannot be used with state_key: a stateful rule notifies once when its alert "
                "triggers (and when it resolves), not on every match; use repeat_interval "
                "for reminders while it stays firing",
            )
        conditions = self._conditions(reader, required=True)
        message = self._template(reader, "message_template", None)
        subject = self._template(reader, "subject_template", DEFAULT_SUBJECT)
        life = self._lifecycle(reader, MATCH_RESOLVE, MATCH_NO_DATA)
        if message is None or subject is None or life is None or not state_key:
            return None
        return StatefulMatchRule(
            id=common.id,
            name=common.name,
            enabled=common.enabled,
            priority=common.priority,
            source=common.source,
            channels=common.channels,
            conditions=conditions,
            message_template=message,
            subject_template=subject,
            resolve_template=life.resolve_template,
            no_data_template=life.no_data_template,
            state_key=state_key,
            timestamp_field=life.timestamp_field,
            notify_on_resolve=life.notify_on_resolve,
            for_seconds=life.for_seconds,
            no_data_seconds=life.no_data_seconds,
            expected_devices=life.expected_devices,
            index=common.index,
        )

    def _threshold(self, reader: MappingReader, common: _Common) -> ThresholdRule | None:
        """``type: threshold``: a metric of device readings against a threshold."""
        self._misplaced(reader, _GROUP_KEYS, _GROUP_MISPLACED)
        devices = self._devices(reader)
        metric = reader.required("metric", str, "")
        if reader.has("metric") and isinstance(reader.raw("metric"), str) and not metric:
            reader.error("metric", "must not be empty")
        operator = self._operator(reader)
        threshold = reader.required("threshold", float, 0.0)
        has_threshold = isinstance(reader.raw("threshold"), int | float) and not isinstance(
            reader.raw("threshold"), bool
        )
        resolve = self._resolve_threshold(reader, operator, threshold if has_threshold else None)
        overrides = load_threshold_overrides(
            reader, operator, threshold if has_threshold else None, resolve
        )
        if reader.has("rate_limit"):
            reader.error(
                "rate_limit",
                "is not allowed on threshold rules: an alert notifies once when it triggers "
                "(and when it resolves); use repeat_interval for reminders while it stays firing",
            )
        conditions = self._conditions(reader, required=False)
        state_key = self._path(reader, "state_key", DEFAULT_THRESHOLD_STATE_KEY)
        default_message = THRESHOLD_OVERRIDE_MESSAGE if overrides else THRESHOLD_MESSAGE
        message = self._template(reader, "message_template", default_message)
        subject = self._template(reader, "subject_template", DEFAULT_SUBJECT)
        life = self._lifecycle(reader, THRESHOLD_RESOLVE, THRESHOLD_NO_DATA)
        if (
            message is None
            or subject is None
            or life is None
            or not metric
            or operator is None
            or not has_threshold
            or not state_key
            or overrides is None
        ):
            return None
        return ThresholdRule(
            id=common.id,
            name=common.name,
            enabled=common.enabled,
            priority=common.priority,
            source=common.source,
            channels=common.channels,
            message_template=message,
            subject_template=subject,
            resolve_template=life.resolve_template,
            no_data_template=life.no_data_template,
            metric=metric,
            operator=operator,
            threshold=threshold,
            resolve_threshold=resolve,
            overrides=overrides,
            device_ids=devices,
            conditions=conditions,
            state_key=state_key,
            timestamp_field=life.timestamp_field,
            notify_on_resolve=life.notify_on_resolve,
            for_seconds=life.for_seconds,
            no_data_seconds=life.no_data_seconds,
            expected_devices=life.expected_devices,
            index=common.index,
        )

    # -- fields -------------------------------------------------------------------------

    def _schedule(self, reader: MappingReader, stateful: bool) -> _Schedule:
        """The muting fields: intervals by name, catch_up, resolve_when_silenced."""
        active = self._intervals(reader, "active_time_intervals")
        muted = self._intervals(reader, "mute_time_intervals")
        catch_up = reader.optional("catch_up", bool, False)
        if catch_up and not muted:
            reader.error("catch_up", "needs mute_time_intervals: it summarises what they held back")
        resolve_when_silenced = reader.optional("resolve_when_silenced", bool, False)
        if reader.has("resolve_when_silenced") and not stateful:
            reader.error(
                "resolve_when_silenced",
                "only applies to stateful rules: set state_key, or use type: threshold",
            )
        return _Schedule(active, muted, catch_up, resolve_when_silenced)

    def _intervals(self, reader: MappingReader, key: str) -> tuple[TimeInterval, ...]:
        names: list[object] = reader.optional(key, list, [])
        found: list[TimeInterval] = []
        for position, name in enumerate(names):
            interval = self.time_intervals.get(name) if isinstance(name, str) else None
            if interval is None:
                reader.error(
                    f"{key}[{position}]",
                    unknown_choice("time interval", str(name), sorted(self.time_intervals))
                    + " (define it under time_intervals)",
                )
                continue
            found.append(interval)
        return tuple(found)

    def _misplaced(self, reader: MappingReader, keys: tuple[str, ...], message: str) -> None:
        for key in keys:
            if reader.has(key):
                reader.error(key, message)

    def _path(self, reader: MappingReader, key: str, default: str) -> str:
        """A dot path (``camera_id``, ``device.id``); "" when missing or invalid."""
        text = reader.optional(key, str, default) if default else reader.required(key, str, "")
        if not isinstance(reader.raw(key), str | None):
            return ""
        if not text:
            if reader.has(key):
                reader.error(key, "must not be empty")
            return ""
        try:
            compile_path(text)
        except PathError as exc:
            reader.error(key, str(exc))
            return ""
        return text

    def _devices(self, reader: MappingReader) -> frozenset[str] | None:
        """``device_id``: None (every device) when absent or "*", else the accepted ids."""
        raw = reader.raw("device_id")
        if raw is None or raw == "*":
            return None
        items = raw if isinstance(raw, list) else [raw]
        if isinstance(raw, list) and not raw:
            reader.error("device_id", 'must list at least one device id (or use "*" for all)')
            return None
        ids: set[str] = set()
        for position, given in enumerate(items):
            key = f"device_id[{position}]" if isinstance(raw, list) else "device_id"
            # Integer ids (Bella's Reef's devices.id) are compared as text, like the key.
            item = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
            if not isinstance(item, str) or not item:
                expected = "a device id" if isinstance(raw, list) else 'a device id, a list or "*"'
                reader.error(key, f"expected {expected}, got {show(given)}")
            elif item == "*":
                reader.error(key, '"*" (every device) cannot be combined with device ids')
            else:
                ids.add(item)
        return frozenset(ids)

    def _operator(self, reader: MappingReader) -> str | None:
        """The comparison, normalised to its symbol; None when missing or unknown."""
        text = reader.required("operator", str, "")
        if not reader.has("operator") or not isinstance(reader.raw("operator"), str):
            return None
        symbol = OPERATOR_WORDS.get(text.strip(), text.strip())
        if symbol in COMPARISONS:
            return symbol
        if not text.strip():
            reader.error(
                "operator",
                'is empty: quote a symbol in YAML, e.g. operator: ">" '
                "(a bare > starts a folded text block)",
            )
        else:
            reader.error("operator", unknown_choice("operator", text, THRESHOLD_OPERATORS))
        return None

    def _resolve_threshold(
        self, reader: MappingReader, operator: str | None, threshold: float | None
    ) -> float | None:
        """``resolve_threshold`` (hysteresis): on the resolving side of ``threshold``."""
        resolve = reader.optional("resolve_threshold", float, 0.0)
        raw = reader.raw("resolve_threshold")
        if raw is None or not isinstance(raw, int | float) or isinstance(raw, bool):
            return None
        if operator in ("==", "!="):
            reader.error(
                "resolve_threshold",
                f'is not allowed with operator "{operator}": '
                "hysteresis needs one of >, >=, < or <=",
            )
        elif (
            threshold is not None
            and operator is not None
            and (side := wrong_side(operator, threshold, resolve)) is not None
        ):
            reader.error(
                "resolve_threshold",
                f"must be {side} threshold ({show(reader.raw('threshold'))}) with operator "
                f'"{operator}", got {show(raw)}: the alert resolves once the value is no longer '
                f"{operator} resolve_threshold",
            )
        return resolve

    def _lifecycle(
        self, reader: MappingReader, resolve_default: str, no_data_default: str
    ) -> _Lifecycle | None:
        notify_on_resolve = reader.optional("notify_on_resolve", bool, False)
        resolve = self._template(reader, "resolve_template", resolve_default)
        no_data = self._template(reader, "no_data_template", no_data_default)
        timestamp_field = self._path(reader, "timestamp_field", DEFAULT_TIMESTAMP_FIELD)
        for_seconds = self._duration(reader, "for_seconds")
        no_data_seconds = self._duration(reader, "no_data_seconds")
        expected = self._expected_devices(reader, no_data_seconds)
        if reader.has("resolve_template") and resolve is not None and not notify_on_resolve:
            reader.warn(
                "resolve_template",
                "is not used: notify_on_resolve is false, so no resolve message is sent",
            )
        if reader.has("no_data_template") and no_data is not None and no_data_seconds == 0:
            reader.warn(
                "no_data_template",
                "is not used: no_data_seconds is 0, so no no-data alert is sent",
            )
        if resolve is None or no_data is None or not timestamp_field:
            return None
        return _Lifecycle(
            resolve_template=resolve,
            no_data_template=no_data,
            timestamp_field=timestamp_field,
            notify_on_resolve=notify_on_resolve,
            for_seconds=for_seconds,
            no_data_seconds=no_data_seconds,
            expected_devices=expected,
        )

    def _follow_ups(
        self, reader: MappingReader, stateful: bool, enabled: bool, kind: str
    ) -> _FollowUps:
        """``acknowledge``, ``repeat`` (or ``repeat_interval``) and ``escalation``."""
        if kind == "range":
            # A range alert moves between levels in its own Lua, which reminds per level
            # (``repeat_interval``, read by rules.range_loader); no ack record, no sweep.
            for key in ("acknowledge", "repeat", "escalation"):
                if reader.has(key):
                    reader.error(
                        key,
                        "is not supported on range rules: each level reminds on its own "
                        "repeat_interval",
                    )
            return _FollowUps(False, (), ())
        acknowledge = reader.optional("acknowledge", bool, stateful)
        if stateful and reader.has("acknowledge") and not acknowledge:
            reader.error("acknowledge", "a stateful rule's alerts can always be acknowledged")
        for key in ("group", "storm"):
            if acknowledge and not stateful and reader.has(key):
                # One grouped message holds many hits, each an alert of its own: there is
                # no one {alert_id} to put in it, so nobody could ack from the message.
                reader.error(
                    "acknowledge",
                    f"cannot be used with {key}: a grouped message cannot carry each hit's "
                    "alert id; drop one of the two",
                )
        if not stateful and not acknowledge:
            self._misplaced(
                reader,
                _FOLLOW_UP_KEYS,
                "needs an alert to follow up: set acknowledge: true (or state_key)",
            )
            return _FollowUps(False, (), ())
        repeat = self._repeat(reader)
        steps = self._escalation(reader, enabled)
        return _FollowUps(stateful or acknowledge, repeat, steps)

    def _repeat(self, reader: MappingReader) -> tuple[float, ...]:
        """``repeat: [5m, 15m, 1h]``; ``repeat_interval: 1h`` is its one-element form."""
        if reader.has("repeat") and reader.has("repeat_interval"):
            reader.error("repeat_interval", "cannot be used with repeat: list the gaps in repeat")
            return ()
        if reader.has("repeat_interval"):
            seconds = self._duration(reader, "repeat_interval")
            return (seconds,) if seconds > 0 else ()
        raw = reader.raw("repeat")
        if raw is None:
            return ()
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            reader.error("repeat", "must list at least one gap, e.g. [5m, 15m, 1h]")
        gaps: list[float] = []
        for position, item in enumerate(items):
            key = f"repeat[{position}]" if isinstance(raw, list) else "repeat"
            gap = parse_duration(item)
            if gap is None:
                reader.error(key, f"{DURATION_EXPECTED}, got {show(item)}")
            elif gap <= 0:
                reader.error(key, f"must be positive, got {show(item)}")
            else:
                gaps.append(gap)
        return tuple(gaps) if len(gaps) == len(items) else ()

    def _escalation(self, reader: MappingReader, enabled: bool) -> tuple[EscalationStep, ...]:
        """``escalation: [{after: 10m, notify: [sms], recipients: {sms: [...]}}, ...]``."""
        items: list[object] = reader.optional("escalation", list, [])
        steps: list[EscalationStep] = []
        for position, item in enumerate(items):
            where = reader.field_path(f"escalation[{position}]")
            if not isinstance(item, dict):
                self.sink.error(
                    where,
                    f"expected a mapping with after and notify, got {show(item)}",
                    reader.rule_id,
                )
                continue
            step = MappingReader(item, where, self.sink, reader.rule_id)
            first_problem = len(self.sink.problems)
            after = parse_duration(step.raw("after"))
            if not step.has("after"):
                step.error("after", "is required: how long the alert stays open first")
            elif after is None:
                step.error("after", f"{DURATION_EXPECTED}, got {show(step.raw('after'))}")
            elif after <= 0:
                step.error("after", f"must be positive, got {show(step.raw('after'))}")
            notified, channels = self._notify(step, enabled)
            recipients = self._recipients(step, notified, channels)
            step.finish()
            if after is not None and after > 0 and len(self.sink.problems) == first_problem:
                steps.append(EscalationStep(after, channels, recipients))
        return tuple(steps)

    def _expected_devices(self, reader: MappingReader, no_data_seconds: float) -> tuple[str, ...]:
        """``expected_devices`` and ``expected_devices_file``: ids alerted even if never seen."""
        raw = reader.raw("expected_devices")
        path = resolve(reader, "expected_devices_file")
        if path is not None:
            listed = raw if isinstance(raw, list) else []
            raw = [*listed, *(read_ids(reader, "expected_devices_file", path) or [])]
        elif reader.has("expected_devices_file"):
            return ()
        if raw is None:
            return ()
        if not isinstance(raw, list) or not raw:
            reader.error("expected_devices", f"expected a non-empty list of ids, got {show(raw)}")
            return ()
        if no_data_seconds <= 0:
            reader.error(
                "expected_devices",
                "needs no_data_seconds: how long a device may stay silent before its alert",
            )
        ids: list[str] = []
        for position, given in enumerate(raw):
            # Integer ids (Bella's Reef's devices.id) are compared as text, like the key.
            item = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
            if not isinstance(item, str) or not item:
                reader.error(f"expected_devices[{position}]", f"expected an id, got {show(given)}")
            elif item not in ids:
                ids.append(item)
        return tuple(ids)

    def _duration(self, reader: MappingReader, key: str) -> float:
        """Seconds (a number, or "45s" / "30m" / "1h" / "2d"); 0 when absent or invalid."""
        raw = reader.raw(key)
        if raw is None:
            return 0.0
        seconds = parse_duration(raw)
        if seconds is None:
            reader.error(key, f"{DURATION_EXPECTED}, got {show(raw)}")
            return 0.0
        if seconds < 0:
            reader.error(key, f"must not be negative, got {show(raw)}")
            return 0.0
        return seconds

    def _check_id(self, reader: MappingReader) -> None:
        rule_id = reader.required("id", str, "")
        if not reader.has("id") or not isinstance(reader.raw("id"), str):
            return
        if not rule_id:
            reader.error("id", "must not be empty")
        elif not _RULE_ID.match(rule_id):
            reader.error(
                "id",
                f'invalid rule id "{rule_id}": use letters, digits, "_", "-" and ".", '
                "starting with a letter or digit",
            )
        elif rule_id in self.seen:
            reader.error(
                "id",
                f'duplicate rule id "{rule_id}" (first defined at rules[{self.seen[rule_id]}])',
            )
        else:
            self.seen[rule_id] = self.index

    def _notify(self, reader: MappingReader, enabled: bool) -> tuple[list[str], tuple[str, ...]]:
        """(every channel named, the enabled ones in order)."""
        names: list[object] = reader.required("notify", list, [])
        if reader.has("notify") and isinstance(reader.raw("notify"), list) and not names:
            reader.error("notify", "must list at least one channel")
        notified: list[str] = []
        active: list[str] = []
        for position, name in enumerate(names):
            key = f"notify[{position}]"
            if not isinstance(name, str):
                reader.error(key, f"expected a channel name, got {show(name)}")
                continue
            if name in notified:
                reader.warn(key, f"{name} is listed twice")
                continue
            notified.append(name)
            if name not in self.channels.known:
                reader.error(key, unknown_choice("channel", name, sorted(self.channels.known)))
            elif name not in self.channels.configured:
                reader.error(key, f'channel "{name}" is not configured under notifications')
            elif not self.channels.configured[name]:
                if enabled:
                    reader.warn(
                        key, f"notifies {name}, which is disabled: nothing will be sent there"
                    )
            else:
                active.append(name)
        return notified, tuple(active)

    def _conditions(self, reader: MappingReader, required: bool) -> tuple[Condition, ...]:
        if required:
            items: list[object] = reader.required("conditions", list, [])
        else:
            items = reader.optional("conditions", list, [])
        if reader.has("conditions") and isinstance(reader.raw("conditions"), list) and not items:
            reader.error("conditions", "must list at least one condition")
        compiled: list[Condition] = []
        for position, item in enumerate(items):
            where = reader.field_path(f"conditions[{position}]")
            if not isinstance(item, dict):
                self.sink.error(
                    where,
                    f"expected a mapping with field, operator and value, got {show(item)}",
                    reader.rule_id,
                )
                continue
            cond = MappingReader(item, where, self.sink, reader.rule_id)
            field = cond.required("field", str, "")
            operator = cond.required("operator", str, "")
            value = cond.raw("value") if cond.has("value") else NO_VALUE
            if field and operator:
                try:
                    if operator == IN_WATCHLIST:
                        compiled.append(compile_in_watchlist(field, value, self.watchlists))
                    else:
                        compiled.append(compile_condition(field, operator, value))
                except ConditionError as exc:
                    for key, message in exc.problems:
                        cond.error(key, message)
            cond.finish()
        return tuple(compiled)

    def _template(self, reader: MappingReader, key: str, default: str | None) -> Template | None:
        if default is None:
            text = reader.required(key, str, "")
            if not reader.has(key) or not isinstance(reader.raw(key), str):
                return None
        else:
            text = reader.optional(key, str, default)
        try:
            return compile_template(text)
        except TemplateError as exc:
            for message in exc.problems:
                reader.error(key, message)
            return None

    def _rate_limit(self, reader: MappingReader) -> RateLimit | None:
        raw = reader.raw("rate_limit")
        data = reader.mapping("rate_limit")
        if raw is None or not isinstance(raw, dict):
            return None
        limit = MappingReader(data, reader.field_path("rate_limit"), self.sink, reader.rule_id)
        enabled = limit.optional("enabled", bool, True)
        if enabled:
            cooldown = limit.required("cooldown_seconds", int, 0)
        else:
            cooldown = limit.optional("cooldown_seconds", int, 0)
        raw_cooldown = data.get("cooldown_seconds")
        if isinstance(raw_cooldown, int) and not isinstance(raw_cooldown, bool) and cooldown <= 0:
            limit.error("cooldown_seconds", f"must be positive, got {cooldown}")
        dedup_key = limit.optional("dedup_key", str, DEFAULT_DEDUP_KEY)
        dedup = None
        try:
            dedup = compile_path(dedup_key)
        except PathError as exc:
            limit.error("dedup_key", str(exc))
        limit.finish()
        if not enabled or cooldown <= 0 or dedup is None:
            return None
        return RateLimit(cooldown_seconds=cooldown, dedup_key=dedup_key, dedup=dedup)

    def _recipients(
        self, reader: MappingReader, notified: list[str], active: tuple[str, ...]
    ) -> dict[str, tuple[str, ...]]:
        data = reader.mapping("recipients")
        result: dict[str, tuple[str, ...]] = {}
        for name, value in data.items():
            key = f"recipients.{name}"
            if name not in notified:
                reader.error(key, f"this rule does not notify {name}")
                continue
            if name in self.channels.known and not self.channels.known[name]:
                reader.error(key, f"{name} has no recipients to override")
                continue
            if not isinstance(value, list) or not value:
                reader.error(key, f"expected a non-empty list of recipients, got {show(value)}")
                continue
            bad = [i for i, item in enumerate(value) if not isinstance(item, str) or not item]
            for i in bad:
                reader.error(f"{key}[{i}]", f"expected a recipient, got {show(value[i])}")
            if not bad and name in active:
                result[name] = tuple(value)
        return result
