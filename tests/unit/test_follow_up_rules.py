"""Loading acknowledge, repeat and escalation; errors name the file, rule and field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from contract.problems import ProblemSink
from rules.kinds import AnyRule
from rules.loader import load_rules
from rules.model import EscalationStep
from rules.range import RangeRule
from tests.support.rules import ALL_CHANNELS, compile_rules
from tests.support.yamlfile import dump

HIT: dict[str, Any] = {
    "id": "stolen",
    "conditions": [{"field": "plate.normalized_text", "operator": "equals", "value": "ABC123"}],
    "notify": ["webhook"],
    "message_template": "{plate.normalized_text}",
}
TANK: dict[str, Any] = {
    "id": "tank",
    "type": "threshold",
    "metric": "temperature",
    "operator": ">",
    "threshold": 82,
    "notify": ["webhook"],
}


def errors(*items: dict[str, Any]) -> list[str]:
    sink = ProblemSink("rules.yaml")
    load_rules(yaml.safe_load(dump(list(items))), sink, ALL_CHANNELS, "plates")
    return [str(p) for p in sink.errors]


def only(rule: AnyRule | None = None, *rules: AnyRule) -> AnyRule:
    assert rule is not None and not rules
    return rule


def test_repeat_and_escalation_load_as_seconds_and_steps() -> None:
    """repeat gaps become seconds; a step keeps its channels and its recipients."""
    rule = only(
        *compile_rules(
            {
                **TANK,
                "notify": ["webhook", "sms"],
                "repeat": ["5m", "15m", "1h"],
                "escalation": [
                    {"after": "10m", "notify": ["sms"], "recipients": {"sms": ["+15550100002"]}},
                    {"after": 1800, "notify": ["webhook"]},
                ],
            }
        )
    )
    assert rule.repeat == (300.0, 900.0, 3600.0)
    assert rule.escalation == (
        EscalationStep(600.0, ("sms",), {"sms": ("+15550100002",)}),
        EscalationStep(1800.0, ("webhook",), {}),
    )
    assert rule.acknowledge  # a stateful rule's alerts always can be


def test_a_match_rule_opens_alerts_only_with_acknowledge_true() -> None:
    """Without acknowledge a match is no alert; with it, it is one and may repeat."""
    plain = only(*compile_rules(HIT))
    acked = only(*compile_rules({**HIT, "acknowledge": True, "repeat_interval": "5m"}))
    assert plain.acknowledge is False
    assert (acked.acknowledge, acked.repeat) == (True, (300.0,))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {**HIT, "repeat": ["5m"]},
            'rules.yaml: rule "stolen": rules[0].repeat: needs an alert to follow up: '
            "set acknowledge: true (or state_key)",
        ),
        (
            {**TANK, "repeat": ["5m", "soon"]},
            'rules.yaml: rule "tank": rules[0].repeat[1]: expected a number of seconds or a '
            'duration like 45s, 30m, 1h or 2d, got "soon"',
        ),
        (
            {**TANK, "repeat": [0]},
            'rules.yaml: rule "tank": rules[0].repeat[0]: must be positive, got 0',
        ),
        (
            {**TANK, "repeat": ["5m"], "repeat_interval": "1h"},
            'rules.yaml: rule "tank": rules[0].repeat_interval: cannot be used with repeat: '
            "list the gaps in repeat",
        ),
        (
            {**TANK, "escalation": [{"notify": ["webhook"]}]},
            'rules.yaml: rule "tank": rules[0].escalation[0].after: is required: how long the '
            "alert stays open first",
        ),
        (
            {**TANK, "escalation": [{"after": "10m", "notify": ["pager"]}]},
            'rules.yaml: rule "tank": rules[0].escalation[0].notify[0]: unknown channel "pager"',
        ),
        (
            {**TANK, "escalation": [{"after": "10m", "notify": ["webhook"], "to": "x"}]},
            'rules.yaml: rule "tank": rules[0].escalation[0].to: unknown key',
        ),
        (
            {**HIT, "acknowledge": True, "group": {"by": ["camera_id"], "wait": "30s"}},
            'rules.yaml: rule "stolen": rules[0].acknowledge: cannot be used with group: a '
            "grouped message cannot carry each hit's alert id; drop one of the two",
        ),
        (
            {**HIT, "acknowledge": True, "storm": {"threshold": 10}},
            'rules.yaml: rule "stolen": rules[0].acknowledge: cannot be used with storm: a '
            "grouped message cannot carry each hit's alert id; drop one of the two",
        ),
        (
            {**TANK, "acknowledge": False},
            'rules.yaml: rule "tank": rules[0].acknowledge: a stateful rule\'s alerts can always '
            "be acknowledged",
        ),
    ],
)
def test_bad_follow_ups_name_file_rule_and_field(rule: dict[str, Any], expected: str) -> None:
    """Each mistake is one error with the file, the rule id and the full field path."""
    found = errors(rule)
    assert any(line.startswith(expected) for line in found), found


RANGE: dict[str, Any] = {
    "id": "band",
    "type": "range",
    "metric": "temperature",
    "notify": ["webhook"],
    "levels": [{"severity": "warning", "low": 25, "high": 27}],
}


def test_a_trend_rule_is_reminded_and_escalated_like_any_stateful_rule() -> None:
    """A trend rule takes repeat and escalation; its alerts can be acknowledged."""
    rule = only(
        *compile_rules(
            {
                "id": "heater",
                "type": "rate_of_change",
                "metric": "temperature",
                "per": "10m",
                "threshold": 0.5,
                "notify": ["webhook"],
                "repeat": ["5m"],
                "escalation": [{"after": "10m", "notify": ["sms"]}],
            }
        )
    )
    assert (rule.acknowledge, rule.repeat) == (True, (300.0,))
    assert rule.escalation == (EscalationStep(600.0, ("sms",), {}),)


def test_a_range_rule_reminds_per_level_and_refuses_the_sweeps_follow_ups() -> None:
    """repeat_interval stays each level's reminder; repeat and escalation are refused."""
    rule = only(*compile_rules({**RANGE, "repeat_interval": "5m"}))
    assert isinstance(rule, RangeRule)
    assert [level.repeat_interval for level in rule.levels] == [300.0]
    assert (rule.acknowledge, rule.repeat, rule.escalation) == (False, (), ())
    assert errors(
        {**RANGE, "repeat": ["5m"], "escalation": [{"after": 60, "notify": ["sms"]}]}
    ) == [
        f'rules.yaml: rule "band": rules[0].{key}: is not supported on range rules: each '
        "level reminds on its own repeat_interval"
        for key in ("repeat", "escalation")
    ]
