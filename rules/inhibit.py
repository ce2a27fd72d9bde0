"""The ``inhibit:`` section: while a source alert fires, matching target notifications are muted.

```yaml
inhibit:
  - source: {rule_id: controller_offline}
    target: {rule_id: "=~tank_.*"}
    equal: [site_id]
```

``source`` and ``target`` map a label (``rule_id``, ``priority``, ``channel`` or an event
path) to a value: plain text is an equality, a value starting with ``=~``, ``!~``, ``!=``
or ``=`` uses that operator (rules.matchers). ``equal`` lists the labels the source and
the target must share (both missing counts as equal, as in Alertmanager).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.mapping import MappingReader
from contract.problems import ProblemSink
from rules.matchers import OWN_LABELS, Matcher, MatcherError, Subject, all_match, parse_label_value
from rules.operators import show
from rules.paths import PathError, compile_path

SECTION = "inhibit"


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @property
    def index_labels(self) -> tuple[str, ...]:
        """The labels a firing source must keep to be compared later."""
        return tuple(dict.fromkeys([*(m.name for m in self.source), *self.equal]))


def load_inhibit(items: object, sink: ProblemSink) -> tuple[InhibitRule, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        sink.error(SECTION, f"expected a list of inhibit rules, got {show(items)}")
        return ()
    rules: list[InhibitRule] = []
    for index, item in enumerate(items):
        where = f"{SECTION}[{index}]"
        if not isinstance(item, dict):
            sink.error(where, f"expected a mapping with source, target and equal, got {show(item)}")
            continue
        reader = MappingReader(item, where, sink)
        before = len(sink.errors)
        source = _matchers(reader, "source")
        target = _matchers(reader, "target")
        equal: list[str] = []
        for position, name in enumerate(reader.optional("equal", list, [])):
            try:
                if not isinstance(name, str):
                    raise PathError(f"expected a label name, got {show(name)}")
                if name not in ("rule_id", "priority", "channel"):
                    compile_path(name)
                equal.append(name)
            except PathError as exc:
                reader.error(f"equal[{position}]", str(exc))
        reader.finish()
        if len(sink.errors) == before:
            rules.append(InhibitRule(source, target, tuple(equal)))
    return tuple(rules)


def _matchers(reader: MappingReader, key: str) -> tuple[Matcher, ...]:
    data = reader.required(key, dict, {})
    if reader.has(key) and isinstance(reader.raw(key), dict) and not data:
        reader.error(key, "must name at least one label")
    found: list[Matcher] = []
    for name, value in data.items():
        try:
            found.append(parse_label_value(str(name), value))
        except MatcherError as exc:
            reader.error(f"{key}.{name}", str(exc))
    return tuple(found)


def check_sources(
    rules: tuple[InhibitRule, ...], stateful: list[tuple[str, str]], sink: ProblemSink
) -> None:
    """Warn about an inhibit rule whose source can match no stateful rule (id, priority):
    only a stateful rule's alert fires, so such a rule would never inhibit anything."""
    for index, rule in enumerate(rules):
        own = tuple(m for m in rule.source if m.name in OWN_LABELS and m.name != "channel")
        if not own:
            continue
        if not any(
            all_match(own, Subject(rule_id, priority, "", {})) for rule_id, priority in stateful
        ):
            sink.warn(
                f"{SECTION}[{index}].source",
                "matches no stateful rule: only the alert of a threshold rule or a rule with "
                "state_key fires, so this inhibits nothing",
            )
