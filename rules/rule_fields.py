"""The fields every kind of rule reads the same way: id, notify, recipients, conditions,
templates, dot paths, rate_limit, and the muting schedule.

``_RuleFields`` holds what one rule is read against (the channels, watchlists and time
intervals, the ids seen so far); ``rules.stateful_fields`` adds the fields of stateful
rules and ``rules.loader`` the reading of one rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from contract.mapping import MappingReader
from contract.problems import ProblemSink
from rules.model import DEFAULT_DEDUP_KEY, Priority, RateLimit
from rules.operators import (
    NO_VALUE,
    Condition,
    ConditionError,
    compile_condition,
    show,
    unknown_choice,
)
from rules.paths import PathError, compile_path
from rules.templates import Template, TemplateError, compile_template
from rules.time_intervals import TimeInterval
from rules.watchlists.operator import OPERATOR as IN_WATCHLIST
from rules.watchlists.operator import compile_in_watchlist
from rules.watchlists.section import Watchlist

# Rule ids end up in Redis keys, task ids and metric labels: keep them plain.
_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# Keys of stateful rules (threshold, or match with state_key) only.
_STATEFUL_KEYS = (
    "notify_on_resolve",
    "resolve_template",
    "no_data_template",
    "for_seconds",
    "repeat_interval",
    "no_data_seconds",
    "expected_devices",
    "expected_devices_file",
    "timestamp_field",
)
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
class _Schedule:
    """The keys that mute a rule (alerts.muting), read the same way for every kind."""

    active: tuple[TimeInterval, ...]
    muted: tuple[TimeInterval, ...]
    catch_up: bool
    resolve_when_silenced: bool


class _RuleFields:
    """Reads the fields every kind of rule shares, reporting problems to ``sink``."""

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
