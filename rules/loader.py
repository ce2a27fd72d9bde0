"""Read the ``rules:`` list of a config file into compiled rules, reporting every problem.

Every problem names the rule id (or None when the id itself is missing or not a string)
and the full field path, e.g. ``rules[0].conditions[1].operator``. A rule with any error
is left out of the result; the caller refuses a config with errors anyway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from klaxon.mapping import MappingReader
from klaxon.problems import ProblemSink
from rules.model import (
    DEFAULT_DEDUP_KEY,
    DEFAULT_SUBJECT,
    PRIORITIES,
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
from rules.templates import Template, TemplateError, compile_template

# Rule ids end up in Redis keys, task ids and metric labels: keep them plain.
_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
RULE_TYPES = ["match"]


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
) -> tuple[Rule, ...]:
    """Compile the ``rules:`` list; problems go to ``sink``."""
    if not isinstance(items, list):
        sink.error("rules", f"expected a list of rules, got {show(items)}")
        return ()
    if not items:
        sink.warn("rules", "no rules are defined: no event will ever match")
    seen: dict[str, int] = {}
    rules: list[Rule] = []
    for index, item in enumerate(items):
        rule = _RuleLoader(
            item, index, sink=sink, channels=channels, default_topic=default_topic, seen=seen
        ).load()
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


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
    ) -> None:
        self.data = data
        self.index = index
        self.where = f"rules[{index}]"
        self.sink = sink
        self.channels = channels
        self.default_topic = default_topic
        self.seen = seen

    def load(self) -> Rule | None:
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
        source = reader.optional("source", str, self.default_topic)
        if not source:
            reader.error("source", "must not be empty")
        notified, channels = self._notify(reader, enabled)
        conditions = self._conditions(reader)
        message = self._template(reader, "message_template", None)
        subject = self._template(reader, "subject_template", DEFAULT_SUBJECT)
        rate_limit = self._rate_limit(reader)
        recipients = self._recipients(reader, notified, channels)
        reader.finish()

        problems = self.sink.problems[first_problem:]
        if any(not p.warning for p in problems) or rule_id is None or message is None:
            return None
        return Rule(
            id=rule_id,
            name=name,
            enabled=enabled,
            priority=cast(Priority, priority),
            source=source,
            channels=channels,
            conditions=conditions,
            message_template=message,
            subject_template=subject or compile_template(DEFAULT_SUBJECT),
            rate_limit=rate_limit,
            recipients=recipients,
            index=self.index,
        )

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
        names: list[Any] = reader.required("notify", list, [])
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

    def _conditions(self, reader: MappingReader) -> tuple[Condition, ...]:
        items: list[Any] = reader.required("conditions", list, [])
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
