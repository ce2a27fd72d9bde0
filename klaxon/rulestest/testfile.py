"""Test files of ``klaxon rules test``: a rules file and the cases it must pass.

```yaml
rules: ../../config/alert_rules.yaml   # relative to this file
start: "2026-01-01T00:00:00Z"          # optional: the simulated time of every case's start
topic: alpr.plates.detected            # optional: the topic of events that name none
cases:
  - name: a watchlisted plate alerts every channel once
    events:
      - {at: 0s, event: {plate: {normalized_text: ABC123}, camera_id: cam-1}}
      - {at: 10s, topic: alpr.plates.detected, event: {...}}
    until: 20m                         # optional: run the clock on (sweeps, group flushes)
    expect:                            # []: nothing at all is sent
      - {rule: watchlist_plate, channel: email, transition: match, message: ABC123, at: 0s}
```

Every problem is a ``TestFileError`` naming the file, the case and the field. Unknown keys
are errors too: a later version adds ``silences:`` to a case and time intervals to
``at:`` without changing what a file that passes today means.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import yaml

from contract.durations import parse_duration
from contract.notification import TransitionKind

DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TRANSITIONS = frozenset({*(k.value for k in TransitionKind), "group"})


class TestFileError(ValueError):
    """A test file that cannot run: the message names file, case and field."""

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the case starts
    topic: str
    event: object  # a JSON object, or a string sent as it is (to test undecodable input)


@dataclass(frozen=True)
class Expected:
    rule: str
    channel: str | None = None
    transition: str | None = None
    message: str | None = None  # a substring of the rendered message
    at: float | None = None  # seconds after the case's start, when given

    def describe(self) -> str:
        parts = [f"at {self.at:g}s"] if self.at is not None else []
        parts.append(f"rule={self.rule}")
        for name in ("channel", "transition"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if self.message is not None:
            parts.append(f"message~{self.message!r}")
        return " ".join(parts)


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[Step, ...]
    until: float
    expected: tuple[Expected, ...]


@dataclass(frozen=True)
class TestFile:
    __test__ = False

    path: Path
    rules: Path
    start: float
    cases: tuple[Case, ...]


def load_test_file(path: Path, default_topic: str) -> TestFile:
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TestFileError(f"{where}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise TestFileError(f"{where}: not YAML: {exc}") from exc
    top = _mapping(raw, where, {"rules", "start", "topic", "cases"}, required={"rules", "cases"})
    rules = top["rules"]
    if not isinstance(rules, str) or not rules:
        raise TestFileError(f"{where}: rules: expected the path of a rules file")
    rules_path = (path.parent / rules).resolve()
    if not rules_path.is_file():
        raise TestFileError(f"{where}: rules: no such file {rules_path}")
    start = _start(top.get("start"), where)
    topic = top.get("topic", default_topic)
    if not isinstance(topic, str) or not topic:
        raise TestFileError(f"{where}: topic: expected a topic name, got {topic!r}")
    cases_raw = top["cases"]
    if not isinstance(cases_raw, list) or not cases_raw:
        raise TestFileError(f"{where}: cases: expected a list of cases")
    cases = [_case(c, f"{where}: case {i + 1}", topic) for i, c in enumerate(cases_raw)]
    names = [c.name for c in cases]
    for name in names:
        if names.count(name) > 1:
            raise TestFileError(f"{where}: case {name!r}: name: used by two cases")
    return TestFile(path, rules_path, start, tuple(cases))


def _mapping(
    raw: object, where: str, known: Collection[str], required: Collection[str] = ()
) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise TestFileError(f"{where}: expected a mapping, got {type(raw).__name__}")
    for key in raw:
        if key not in known:
            raise TestFileError(
                f"{where}: {key}: unknown field (known: {', '.join(sorted(known))})"
            )
    for key in sorted(set(required) - set(raw)):
        raise TestFileError(f"{where}: {key}: required")
    return {str(k): v for k, v in raw.items()}


def _start(raw: object, where: str) -> float:
    if raw is None:
        return DEFAULT_START.timestamp()
    if isinstance(raw, dt.datetime):
        moment = raw
    else:
        try:
            moment = dt.datetime.fromisoformat(str(raw))
        except ValueError as exc:
            raise TestFileError(f"{where}: start: {exc}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _offset(raw: object, where: str) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0:
        return float(raw)
    try:
        return parse_duration(str(raw))
    except ValueError as exc:
        raise TestFileError(f"{where}: {exc}") from exc


def _case(raw: object, where: str, default_topic: str) -> Case:
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        where = f"{where.rsplit(': case', 1)[0]}: case {raw['name']!r}"
    case = _mapping(
        raw, where, {"name", "events", "until", "expect"}, required={"name", "events", "expect"}
    )
    events = case["events"]
    if not isinstance(events, list):
        raise TestFileError(f"{where}: events: expected a list")
    steps = [_step(e, f"{where}: events[{i}]", default_topic) for i, e in enumerate(events)]
    for i in range(1, len(steps)):
        if steps[i].at < steps[i - 1].at:
            raise TestFileError(
                f"{where}: events[{i}].at: {steps[i].at:g}s is before the event above it"
            )
    last = steps[-1].at if steps else 0.0
    until = _offset(case["until"], f"{where}: until") if "until" in case else last
    if until < last:
        raise TestFileError(f"{where}: until: before the last event")
    expect = case["expect"]
    if not isinstance(expect, list):
        raise TestFileError(f"{where}: expect: expected a list ([] for no notifications)")
    expected = [_expected(e, f"{where}: expect[{i}]") for i, e in enumerate(expect)]
    return Case(str(case["name"]), tuple(steps), until, tuple(expected))


def _step(raw: object, where: str, default_topic: str) -> Step:
    step = _mapping(raw, where, {"at", "topic", "event"}, required={"event"})
    at = _offset(step.get("at", 0), f"{where}.at")
    topic = step.get("topic", default_topic)
    if not isinstance(topic, str) or not topic:
        raise TestFileError(f"{where}.topic: expected a topic name")
    event = step["event"]
    if not isinstance(event, dict | str):
        raise TestFileError(f"{where}.event: expected a mapping (the event) or a string")
    return Step(at, topic, event)


def _expected(raw: object, where: str) -> Expected:
    item = _mapping(
        raw, where, {"at", "rule", "channel", "transition", "message"}, required={"rule"}
    )
    at = _offset(item.pop("at"), f"{where}.at") if "at" in item else None
    for key, value in item.items():
        if not isinstance(value, str):
            raise TestFileError(f"{where}.{key}: expected text, got {value!r}")
    transition = item.get("transition")
    if transition is not None and transition not in TRANSITIONS:
        raise TestFileError(
            f"{where}.transition: unknown {transition!r} (known: {', '.join(sorted(TRANSITIONS))})"
        )
    return Expected(
        rule=str(item["rule"]),
        channel=_text(item.get("channel")),
        transition=_text(transition),
        message=_text(item.get("message")),
        at=at,
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
