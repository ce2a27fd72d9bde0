"""Stateful rules: threshold rules on device readings, and match rules with a state_key."""

from __future__ import annotations

import datetime as dt
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract.problems import ProblemSink
from rules.config import check_config, load_config
from rules.engine import RuleEngine
from rules.kinds import AnyRule
from rules.loader import ChannelDirectory, load_rules
from rules.model import Rule
from rules.stateful import (
    Reading,
    StatefulMatchRule,
    StatefulRule,
    ThresholdRule,
    event_seconds,
    parse_duration,
)

CHANNELS = ChannelDirectory(
    known={"email": True, "slack": False, "sms": True, "webhook": False},
    configured={"email": True, "slack": True, "sms": False, "webhook": True},
)
REEF = Path(__file__).resolve().parents[2] / "config" / "reef_rules.yaml"
SEED = Path(__file__).resolve().parents[2] / "config" / "alert_rules.yaml"
T0 = 1_700_000_000  # seconds
T0_MS = T0 * 1000


def load(*items: dict[str, Any], default_topic: str = "plates") -> tuple[AnyRule, ...]:
    sink = ProblemSink("test.yaml")
    rules = load_rules(yaml.safe_load(yaml.safe_dump(list(items))), sink, CHANNELS, default_topic)
    assert sink.errors == []
    return rules


def problems(*items: dict[str, Any]) -> list[str]:
    sink = ProblemSink("test.yaml")
    load_rules(yaml.safe_load(yaml.safe_dump(list(items))), sink, CHANNELS, "plates")
    return [str(p).removeprefix("test.yaml: ") for p in sink.problems]


def threshold(**extra: Any) -> dict[str, Any]:
    return {
        "id": "temp-high",
        "name": "Temperature high",
        "type": "threshold",
        "metric": "temperature",
        "operator": ">",
        "threshold": 82.0,
        "notify": ["webhook"],
        **extra,
    }


def threshold_rule(**extra: Any) -> ThresholdRule:
    (rule,) = load(threshold(**extra))
    assert isinstance(rule, ThresholdRule)
    return rule


def reading(value: Any = 85.2, device: Any = "tank-1", **fields: Any) -> dict[str, Any]:
    return {
        "device_id": device,
        "metric": "temperature",
        "value": value,
        "timestamp": T0_MS,
        **fields,
    }


# -- loading --------------------------------------------------------------------------


def test_threshold_rule_defaults() -> None:
    """A minimal threshold rule reads devices.readings with the documented defaults."""
    rule = threshold_rule()
    assert rule.source == "devices.readings"
    assert rule.metric == "temperature"
    assert rule.operator == ">"
    assert rule.threshold == 82.0
    assert rule.resolve_threshold is None
    assert rule.device_ids is None
    assert rule.state_key == "device_id"
    assert rule.timestamp_field == "timestamp"
    assert rule.conditions == ()
    assert (rule.for_seconds, rule.repeat, rule.no_data_seconds) == (0, (), 0)
    assert rule.notify_on_resolve is False
    assert rule.priority == "medium"
    assert rule.channels == ("webhook",)
    assert rule.message_template.text == (
        "{rule_name}: {device_id} {metric} = {current_value} ({operator} {threshold})"
    )
    assert rule.resolve_template.text == (
        "RESOLVED {rule_name}: {device_id} {metric} = {current_value} after {duration}"
    )
    assert rule.no_data_template.text == "{rule_name}: no data from {device_id} for {silence}"
    assert rule.subject_template.text == "[{priority}] {rule_name}"


def test_threshold_source_default_ignores_the_kafka_topic_default() -> None:
    """default_topic (KAFKA_TOPIC) is for match rules; threshold rules read devices.readings."""
    rules = load(
        threshold(),
        {
            "id": "m",
            "conditions": [{"field": "x", "operator": "exists"}],
            "notify": ["webhook"],
            "message_template": "{x}",
        },
        {
            "id": "s",
            "state_key": "camera_id",
            "conditions": [{"field": "x", "operator": "exists"}],
            "notify": ["webhook"],
            "message_template": "{x}",
        },
        threshold(id="other", source="reef.v2"),
        default_topic="alpr.plates.v2",
    )
    assert [(r.id, r.source) for r in rules] == [
        ("temp-high", "devices.readings"),
        ("m", "alpr.plates.v2"),
        ("s", "alpr.plates.v2"),
        ("other", "reef.v2"),
    ]
    assert [type(r) for r in rules] == [ThresholdRule, Rule, StatefulMatchRule, ThresholdRule]


@pytest.mark.parametrize(
    ("given", "symbol"),
    [
        (">", ">"),
        (">=", ">="),
        ("<", "<"),
        ("<=", "<="),
        ("==", "=="),
        ("!=", "!="),
        ("greater_than", ">"),
        ("greater_or_equal", ">="),
        ("less_than", "<"),
        ("less_or_equal", "<="),
        ("equals", "=="),
        ("not_equals", "!="),
    ],
)
def test_operator_word_forms_normalise_to_the_symbol(given: str, symbol: str) -> None:
    assert threshold_rule(operator=given).operator == symbol


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (0, 0.0),
        (90, 90.0),
        (2.5, 2.5),
        ("45s", 45.0),
        ("30m", 1800.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("1.5h", 5400.0),
        (" 10 m ", 600.0),
    ],
)
def test_durations_take_seconds_or_a_unit(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds
    rule = threshold_rule(for_seconds=text, repeat_interval=text, no_data_seconds=text)
    repeat = (seconds,) if seconds else ()  # repeat_interval is repeat's one-element form
    assert (rule.for_seconds, rule.repeat, rule.no_data_seconds) == (seconds, repeat, seconds)


@pytest.mark.parametrize(
    "text", ["", "5 minutes", "1w", "h", "1h30m", True, None, [1], "-5s", float("inf"), 10**400]
)
def test_bad_durations_are_none(text: object) -> None:
    assert parse_duration(text) is None


def test_device_id_forms() -> None:
    """device_id: one id, a list, "*" or absent; integer ids are compared as text."""
    assert threshold_rule().device_ids is None
    assert threshold_rule(device_id="*").device_ids is None
    assert threshold_rule(device_id="tank-1").device_ids == frozenset({"tank-1"})
    assert threshold_rule(device_id=["tank-1", 7]).device_ids == frozenset({"tank-1", "7"})


def test_bad_device_ids_are_reported() -> None:
    assert problems(threshold(device_id=[])) == [
        'rule "temp-high": rules[0].device_id: must list at least one device id '
        '(or use "*" for all)'
    ]
    assert problems(threshold(device_id=["*", "tank-1"])) == [
        'rule "temp-high": rules[0].device_id[0]: "*" (every device) cannot be combined '
        "with device ids"
    ]
    assert problems(threshold(device_id={"id": 1})) == [
        'rule "temp-high": rules[0].device_id: expected a device id, a list or "*", got {"id": 1}'
    ]


def test_unused_lifecycle_templates_warn() -> None:
    """A resolve/no-data template that can never be sent is a warning, not an error."""
    assert problems(threshold(resolve_template="ok", no_data_template="quiet")) == [
        'rule "temp-high": rules[0].resolve_template: is not used: notify_on_resolve is '
        "false, so no resolve message is sent",
        'rule "temp-high": rules[0].no_data_template: is not used: no_data_seconds is 0, '
        "so no no-data alert is sent",
    ]
    assert (
        problems(
            threshold(
                resolve_template="ok",
                notify_on_resolve=True,
                no_data_template="quiet",
                no_data_seconds="10m",
            )
        )
        == []
    )


def test_hysteresis_on_the_right_side_loads() -> None:
    assert threshold_rule(resolve_threshold=80).resolve_threshold == 80.0
    assert threshold_rule(resolve_threshold=82).resolve_threshold == 82.0
    low = threshold_rule(operator="less_or_equal", threshold=7.8, resolve_threshold=8.0)
    assert (low.operator, low.resolve_threshold) == ("<=", 8.0)


def test_a_negative_duration_and_a_bad_template_are_reported() -> None:
    assert problems(threshold(no_data_seconds=-1, resolve_template="{x!r}")) == [
        'rule "temp-high": rules[0].resolve_template: invalid placeholder "{x!r}" '
        "(a placeholder is a field path like {plate.normalized_text}; "
        "write {{ and }} for literal braces)",
        'rule "temp-high": rules[0].no_data_seconds: must not be negative, got -1',
    ]


def test_unknown_keys_on_threshold_rules_are_caught() -> None:
    assert problems(threshold(resolve_treshold=1)) == [
        'rule "temp-high": rules[0].resolve_treshold: unknown key '
        '(did you mean "resolve_threshold"?)'
    ]


def test_threshold_conditions_must_not_be_empty_when_given() -> None:
    assert problems(threshold(conditions=[])) == [
        'rule "temp-high": rules[0].conditions: must list at least one condition'
    ]


# -- observing: metric extraction ------------------------------------------------------


def test_value_when_the_reading_is_of_this_metric() -> None:
    rule = threshold_rule()
    assert rule.observe(reading(85.2)) == Reading(
        "tank-1", True, False, 85.2, float(T0), 82.0, "rule"
    )
    assert rule.observe(reading(25.5)) == Reading(
        "tank-1", False, True, 25.5, float(T0), 82.0, "rule"
    )
    assert rule.observe(reading(82)) == Reading(
        "tank-1", False, True, 82.0, float(T0), 82.0, "rule"
    )


def test_json_value_then_metadata() -> None:
    """value (same metric) first, then json_value[metric], then metadata[metric]."""
    rule = threshold_rule()
    both = {"json_value": {"temperature": 90}, "metadata": {"temperature": 10}}
    # Another metric's value is not this metric's.
    assert rule.observe(reading(10, metric="ph", **both)).value == 90.0  # type: ignore[union-attr]
    # The value wins when the reading is of this metric.
    assert rule.observe(reading(80, **both)).value == 80.0  # type: ignore[union-attr]
    # A null value falls through to json_value.
    assert rule.observe(reading(None, **both)).value == 90.0  # type: ignore[union-attr]
    metadata_only = reading(None, json_value={"ph": 8.1}, metadata={"temperature": 83.5})
    found = rule.observe(metadata_only)
    assert found is not None
    assert (found.value, found.holds) == (83.5, True)


def test_no_metric_is_no_evaluation() -> None:
    """Without the metric anywhere the reading evaluates nothing (and resolves nothing)."""
    rule = threshold_rule()
    for event in (
        reading(20, metric="ph"),
        reading(None),
        reading(None, json_value=None, metadata=None),
        reading(None, json_value={"ph": 8.0}, metadata={"unit": "F"}),
        reading(None, json_value=[1, 2], metadata="temperature"),
        {"device_id": "tank-1"},
        {},
        None,
        "temperature",
        [reading()],
    ):
        assert rule.observe(event) is None


@pytest.mark.parametrize(
    "value", [True, False, "85.2", "hot", None, [85.2], {"v": 1}, float("nan"), 10**400]
)
def test_non_numeric_values_are_no_evaluation(value: Any) -> None:
    """Only int and float count: not booleans, not numeric strings, not NaN."""
    rule = threshold_rule()
    assert rule.observe(reading(value)) is None
    # A value found in json_value is final: metadata is not tried after it.
    event = reading(None, json_value={"temperature": value}, metadata={"temperature": 90})
    assert rule.observe(event) is None


def test_device_filter_comes_first() -> None:
    one = threshold_rule(device_id="tank-1")
    assert one.observe(reading(device="tank-1")) is not None
    assert one.observe(reading(device="tank-2")) is None
    assert one.observe(reading(device=None)) is None
    assert one.observe({k: v for k, v in reading().items() if k != "device_id"}) is None
    several = threshold_rule(device_id=["tank-1", 7])
    assert several.observe(reading(device=7)) == Reading(
        "7", True, False, 85.2, float(T0), 82.0, "rule"
    )
    assert several.observe(reading(device="7")) is not None
    assert several.observe(reading(device=8)) is None


def test_every_device_without_a_filter() -> None:
    rule = threshold_rule()
    assert rule.observe(reading(device="any")).key == "any"  # type: ignore[union-attr]
    assert rule.observe(reading(device=42)).key == "42"  # type: ignore[union-attr]
    assert rule.observe(reading(device=None)) is None  # no key, no evaluation


def test_state_key_is_a_dot_path() -> None:
    rule = threshold_rule(state_key="location.tank")
    event = reading(location={"tank": "display"})
    assert rule.observe(event).key == "display"  # type: ignore[union-attr]
    assert rule.observe(reading()) is None


def test_extra_conditions_filter_evaluations() -> None:
    rule = threshold_rule(conditions=[{"field": "unit", "operator": "equals", "value": "F"}])
    assert rule.observe(reading(unit="F")) is not None
    assert rule.observe(reading(unit="C")) is None
    assert rule.observe(reading(25.0, unit="C")) is None  # does not resolve either


# -- observing: operators and hysteresis -----------------------------------------------

# (operator, threshold, value) -> holds
OPERATOR_CASES = [
    (">", 10, 11, True),
    (">", 10, 10, False),
    (">", 10, 9, False),
    (">=", 10, 10, True),
    (">=", 10, 9.99, False),
    ("<", 10, 9, True),
    ("<", 10, 10, False),
    ("<=", 10, 10, True),
    ("<=", 10, 10.01, False),
    ("==", 10, 10, True),
    ("==", 10, 10.0, True),
    ("==", 10, 11, False),
    ("!=", 10, 11, True),
    ("!=", 10, 10, False),
    ("greater_than", 10, 11, True),
    ("greater_or_equal", 10, 10, True),
    ("less_than", 10, 10, False),
    ("less_or_equal", 10, 9, True),
    ("equals", 0, 0, True),
    ("not_equals", 0, 0, False),
    (">", -5.5, -5.4, True),
]


@pytest.mark.parametrize(("operator", "limit", "value", "holds"), OPERATOR_CASES)
def test_operators(operator: str, limit: float, value: float, holds: bool) -> None:
    rule = threshold_rule(operator=operator, threshold=limit)
    found = rule.observe(reading(value))
    assert found is not None
    assert (found.holds, found.clears) == (holds, not holds)


@pytest.mark.parametrize(
    ("operator", "limit", "resolve", "value", "holds", "clears"),
    [
        # > 82, resolves once no longer > 80: between the two it neither holds nor clears.
        (">", 82, 80, 83, True, False),
        (">", 82, 80, 82, False, False),
        (">", 82, 80, 81, False, False),
        (">", 82, 80, 80, False, True),
        (">", 82, 80, 79, False, True),
        (">=", 82, 80, 80, False, False),
        (">=", 82, 80, 79.9, False, True),
        # < 7.8, resolves once no longer < 8.0
        ("<", 7.8, 8.0, 7.7, True, False),
        ("<", 7.8, 8.0, 7.9, False, False),
        ("<", 7.8, 8.0, 8.0, False, True),
        ("<=", 7.8, 8.0, 8.0, False, False),
        ("<=", 7.8, 8.0, 8.1, False, True),
        # resolve_threshold equal to the threshold: the same as no hysteresis.
        (">", 82, 82, 82, False, True),
    ],
)
def test_hysteresis(
    operator: str, limit: float, resolve: float, value: float, holds: bool, clears: bool
) -> None:
    rule = threshold_rule(operator=operator, threshold=limit, resolve_threshold=resolve)
    found = rule.observe(reading(value))
    assert found is not None
    assert (found.holds, found.clears) == (holds, clears)


# -- observing: the event time ---------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "seconds"),
    [
        (dt.datetime.fromtimestamp(T0, dt.UTC), T0),  # fastavro, timestamp-millis
        (dt.datetime.fromtimestamp(T0, dt.UTC).replace(tzinfo=None), T0),  # naive: UTC
        (T0_MS, T0),  # JSON: epoch millis
        (T0_MS + 250, T0 + 0.25),
        (float(T0_MS), T0),
        ("2023-11-14T22:13:20Z", T0),
        ("2023-11-14T22:13:20+00:00", T0),
        ("2023-11-14T23:13:20+01:00", T0),
        ("2023-11-14T22:13:20.500", T0 + 0.5),  # naive ISO: UTC
    ],
)
def test_timestamp_forms(stamp: object, seconds: float) -> None:
    assert event_seconds(stamp) == pytest.approx(seconds)
    found = threshold_rule().observe(reading(timestamp=stamp))
    assert found is not None
    assert found.at == pytest.approx(seconds)


@pytest.mark.parametrize(
    "stamp", [None, True, "yesterday", "1700000000000", [T0_MS], {}, 10**400, float("inf")]
)
def test_unreadable_timestamps_are_none(stamp: object) -> None:
    assert event_seconds(stamp) is None
    found = threshold_rule().observe(reading(timestamp=stamp))
    assert found is not None  # still an evaluation: the stage uses the receive time
    assert found.at is None


def test_missing_timestamp_and_timestamp_field() -> None:
    event = {k: v for k, v in reading().items() if k != "timestamp"}
    assert threshold_rule().observe(event).at is None  # type: ignore[union-attr]
    rule = threshold_rule(timestamp_field="meta.read_at")
    assert rule.observe({**event, "meta": {"read_at": T0_MS}}).at == T0  # type: ignore[union-attr]


# -- stateful match rules --------------------------------------------------------------


def camera_rule(**extra: Any) -> StatefulMatchRule:
    (rule,) = load(
        {
            "id": "cam-offline",
            "state_key": "camera_id",
            "conditions": [{"field": "status", "operator": "equals", "value": "offline"}],
            "notify": ["webhook"],
            "message_template": "Camera {camera_id} is offline",
            **extra,
        }
    )
    assert isinstance(rule, StatefulMatchRule)
    return rule


def test_stateful_match_rule_defaults() -> None:
    rule = camera_rule()
    assert rule.source == "plates"  # the default topic, as for any match rule
    assert rule.state_key == "camera_id"
    terms = rule.alert_terms()  # a match rule measures nothing: no metric fields at all
    assert (terms.metric, terms.operator, terms.threshold) == (None, None, None)
    assert not hasattr(rule, "metric")
    assert rule.resolve_template.text == "RESOLVED {rule_name}: {state_key} after {duration}"
    assert rule.no_data_template.text == "{rule_name}: no data from {state_key} for {silence}"
    assert (rule.for_seconds, rule.repeat, rule.no_data_seconds) == (0, (), 0)
    assert rule.notify_on_resolve is False
    assert rule.template_values == {
        "rule_id": "cam-offline",
        "rule_name": "cam-offline",
        "priority": "medium",
    }


def test_stateful_match_rule_observes_every_event_with_the_key() -> None:
    rule = camera_rule(
        notify_on_resolve=True, for_seconds="1m", repeat_interval="1h", timestamp_field="ts"
    )
    assert (rule.for_seconds, rule.repeat) == (60.0, (3600.0,))
    down = {"camera_id": "gate", "status": "offline", "ts": T0_MS}
    assert rule.observe(down) == Reading("gate", True, False, None, float(T0))
    assert rule.observe({"camera_id": "gate", "status": "online"}) == Reading(
        "gate", False, True, None, None
    )
    assert rule.observe({"camera_id": 3}) == Reading("3", False, True, None, None)
    assert rule.observe({"status": "offline"}) is None  # no key: not an evaluation
    assert rule.observe({"camera_id": None, "status": "offline"}) is None
    assert rule.observe(None) is None


# -- the base ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["threshold", "match"])
def test_both_kinds_have_every_protocol_member(kind: str) -> None:
    """Both kinds have every member of their base, rules.stateful.StatefulRule."""
    rule: StatefulRule = threshold_rule() if kind == "threshold" else camera_rule()
    members = set(typing.get_type_hints(StatefulRule)) | {
        "template_values",
        "observe",
        "alert_terms",
    }
    assert "no_data_template" in members
    for member in members:
        assert hasattr(rule, member), member
    assert {"rule_id", "rule_name", "priority"} <= set(rule.template_values)


def test_threshold_template_values_and_default_message() -> None:
    rule = threshold_rule(name="Temp high", priority="high")
    assert rule.template_values == {
        "rule_id": "temp-high",
        "rule_name": "Temp high",
        "priority": "high",
        "metric": "temperature",
        "operator": ">",
        "threshold": 82.0,
        "limit_source": "rule",
    }
    event = reading(85.2)
    found = rule.observe(event)
    assert found is not None
    # What the stateful stage adds for a transition (alerts.stateful_stage.Change.template_values).
    values = {**rule.template_values, "current_value": found.value, "device_id": found.key}
    assert rule.message_template.render(event, values) == (
        "Temp high: tank-1 temperature = 85.2 (> 82.0)"
    )
    assert rule.subject_template.render(event, values) == "[high] Temp high"


def test_rules_are_compared_by_identity() -> None:
    first, second = threshold_rule(), threshold_rule()
    assert first != second
    assert len({first, second}) == 2


# -- the engine ------------------------------------------------------------------------


def test_engine_splits_stateless_and_stateful_rules() -> None:
    match = {
        "id": "match",
        "conditions": [{"field": "device_id", "operator": "exists"}],
        "notify": ["webhook"],
        "message_template": "{device_id}",
        "source": "devices.readings",
    }
    rules = load(
        threshold(id="t1"),
        match,
        threshold(id="t-off", enabled=False),
        {
            "id": "cams",
            "state_key": "camera_id",
            "conditions": [{"field": "status", "operator": "equals", "value": "offline"}],
            "notify": ["webhook"],
            "message_template": "{camera_id}",
            "source": "cameras",
        },
        threshold(id="t2", metric="ph", operator="<", threshold=7.8, no_data_seconds="1h"),
    )
    engine = RuleEngine(rules)
    assert engine.topics == frozenset({"devices.readings", "cameras"})
    assert [r.id for r in engine.stateful("devices.readings")] == ["t1", "t2"]
    assert [r.id for r in engine.stateful("cameras")] == ["cams"]
    assert engine.stateful("plates") == ()
    assert [r.id for r in engine.stateful_rules()] == ["t1", "cams", "t2"]
    assert [r.id for r in engine.stateful_rules() if r.no_data_seconds > 0] == ["t2"]
    # evaluate() only ever returns stateless rules, even when a threshold holds.
    event = reading(99.0, camera_id="c", status="offline")
    assert [r.id for r in engine.evaluate("devices.readings", event)] == ["match"]
    assert engine.evaluate("cameras", event) == []
    assert [r.id for r in engine.rules_for("devices.readings")] == ["match"]


def test_engine_with_only_stateful_rules() -> None:
    engine = RuleEngine(load(threshold()))
    assert engine.topics == frozenset({"devices.readings"})
    assert engine.evaluate("devices.readings", reading()) == []
    (rule,) = engine.stateful("devices.readings")
    assert rule.observe(reading()) is not None


# -- example configs -------------------------------------------------------------------


def test_reef_example_loads() -> None:
    """config/reef_rules.yaml: its first rule, temperature > 28.5 °C, webhook + email."""
    config, found = check_config(REEF, env={})
    assert [p for p in found if not p.warning] == []
    assert config is not None
    rule = config.rules[0]
    assert isinstance(rule, ThresholdRule)
    assert rule.id == "reef_temperature_high"
    assert rule.source == "devices.readings"
    assert (rule.metric, rule.operator, rule.threshold) == ("temperature", ">", 28.5)
    assert rule.channels == ("webhook", "email")
    assert rule.notify_on_resolve is True
    assert rule.priority == "high"


def test_reef_example_scenario() -> None:
    """25.5 is normal, 28.6 triggers, from value or json_value alike."""
    config = load_config(REEF, env={"SMTP_PASSWORD": "s3cret"})
    engine = RuleEngine(config.rules)
    rule = engine.stateful("devices.readings")[0]
    assert rule.observe(reading(25.5, device="1")) == Reading(
        "1", False, True, 25.5, T0, 28.5, "rule"
    )
    assert rule.observe(reading(28.6, device="1")) == Reading(
        "1", True, False, 28.6, T0, 28.5, "rule"
    )
    frag = rule.observe(reading(28.2, device="frag-tank"))
    assert frag == Reading("frag-tank", True, False, 28.2, T0, 28.0, "override for frag-tank")
    multi = reading(None, metric="multi", json_value={"temperature": 85.2, "ph": 8.2})
    assert rule.observe(multi).holds is True  # type: ignore[union-attr]


def test_seed_alert_rules_still_load() -> None:
    config, found = check_config(SEED, env={})
    assert [p for p in found if not p.warning] == []
    assert config is not None
    assert [type(r) for r in config.rules] == [Rule]
    assert RuleEngine(config.rules).stateful_rules() == ()
