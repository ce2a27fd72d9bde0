"""Reading a rule's ``group``, ``group_template`` and ``storm`` keys, every problem named."""

from __future__ import annotations

from contract.mapping import MappingReader
from contract.problems import ProblemSink
from rules.grouping import DEFAULT_GROUP_TEMPLATE, STORM_WAIT_SECONDS, GroupSpec, StormSpec
from rules.paths import Getter, PathError, compile_path
from rules.stateful import DURATION_EXPECTED, parse_duration
from rules.templates import Template, TemplateError, compile_template

DEFAULT_WAIT = 10.0
DEFAULT_INTERVAL = 60.0
DEFAULT_MAX_ITEMS = 20


def _seconds(reader: MappingReader, key: str, default: float) -> float:
    """A positive duration at ``key``, or ``default`` (an invalid one is reported)."""
    raw = reader.raw(key)
    if raw is None:
        return default
    seconds = parse_duration(raw)
    if seconds is None:
        reader.error(key, f"{DURATION_EXPECTED}, got {raw!r}")
        return default
    if seconds <= 0:
        reader.error(key, f"must be positive, got {raw!r}")
        return default
    return seconds


def _count(reader: MappingReader, key: str, default: int) -> int:
    value = reader.optional(key, int, default)
    if isinstance(value, bool) or value <= 0:
        reader.error(key, f"must be a positive whole number, got {reader.raw(key)!r}")
        return default
    return value


def load_group(reader: MappingReader, sink: ProblemSink) -> GroupSpec | None:
    """The rule's ``group``, or None when it has none (or it is invalid)."""
    if not reader.has("group"):
        return None
    if not isinstance(reader.raw("group"), dict):
        reader.mapping("group")  # reports a group that is not a mapping
        return None
    group = MappingReader(reader.mapping("group"), reader.field_path("group"), sink, reader.rule_id)
    names: list[object] = group.optional("by", list, [])
    by: list[tuple[str, Getter]] = []
    for position, name in enumerate(names):
        if not isinstance(name, str) or not name:
            group.error(f"by[{position}]", f"expected a field path, got {name!r}")
            continue
        try:
            by.append((name, compile_path(name)))
        except PathError as exc:
            group.error(f"by[{position}]", str(exc))
    wait = _seconds(group, "wait", DEFAULT_WAIT)
    interval = _seconds(group, "interval", DEFAULT_INTERVAL)
    max_items = _count(group, "max_items", DEFAULT_MAX_ITEMS)
    group.finish()
    template = _group_template(reader)
    if template is None:
        return None
    return GroupSpec(tuple(by), wait, interval, max_items, template)


def _group_template(reader: MappingReader) -> Template | None:
    text = reader.optional("group_template", str, DEFAULT_GROUP_TEMPLATE)
    try:
        return compile_template(text)
    except TemplateError as exc:
        for message in exc.problems:
            reader.error("group_template", message)
        return None


def load_storm(
    reader: MappingReader, sink: ProblemSink, group: GroupSpec | None
) -> StormSpec | None:
    """The rule's ``storm``, or None. In a storm the rule groups by the rule alone, with
    its own group's template and max_items, or the defaults."""
    if not reader.has("storm"):
        if reader.has("group_template") and group is None:
            reader.error("group_template", "only applies to a rule with group or storm")
        return None
    if not isinstance(reader.raw("storm"), dict):
        reader.mapping("storm")  # reports a storm that is not a mapping
        return None
    storm = MappingReader(reader.mapping("storm"), reader.field_path("storm"), sink, reader.rule_id)
    if not storm.has("threshold"):
        storm.error("threshold", "is required")
    threshold = _count(storm, "threshold", 0) if storm.has("threshold") else 0
    within = _seconds(storm, "within", DEFAULT_INTERVAL)
    storm.finish()
    template = group.template if group is not None else _group_template(reader)
    if threshold <= 0 or template is None:
        return None
    max_items = group.max_items if group is not None else DEFAULT_MAX_ITEMS
    # One group per rule, sent soon after the storm starts and then once per ``within``.
    grouping = GroupSpec((), min(STORM_WAIT_SECONDS, within), within, max_items, template)
    return StormSpec(threshold, within, grouping)
