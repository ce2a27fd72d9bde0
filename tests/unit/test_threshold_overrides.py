"""Per-device limits of threshold rules: ``overrides`` read, checked, applied and named.

Rules come from the real loader; the stage test runs the stateful stage on a real Redis.
"""

from __future__ import annotations

from typing import Any

import redis
import yaml

from alerts.lifecycle import Lifecycle
from alerts.stateful_stage import Change, StatefulStage
from contract.notification import Source
from contract.problems import ProblemSink
from ingest.pipeline import Decoded
from rules.engine import RuleEngine
from rules.loader import load_rules
from rules.stateful import THRESHOLD_MESSAGE, Limits, ThresholdRule
from tests.support.fakes import Clock, FakeMessage
from tests.support.rules import ALL_CHANNELS, compile_rules

TOPIC = "devices.readings"
T0 = 1_700_000_000.0


def hot(**extra: Any) -> dict[str, Any]:
    """Temperature above 27 (resolving at or below 26.8) on the webhook."""
    return {
        "id": "too-hot",
        "name": "Too hot",
        "type": "threshold",
        "metric": "temperature",
        "operator": ">",
        "threshold": 27.0,
        "resolve_threshold": 26.8,
        "notify": ["webhook"],
        **extra,
    }


def rule_of(**extra: Any) -> ThresholdRule:
    (rule,) = compile_rules(hot(**extra))
    assert isinstance(rule, ThresholdRule)
    return rule


def problems(*items: dict[str, Any]) -> list[str]:
    sink = ProblemSink("test.yaml")
    load_rules(yaml.safe_load(yaml.safe_dump(list(items))), sink, ALL_CHANNELS, "plates")
    return [str(p).removeprefix("test.yaml: ") for p in sink.problems if not p.warning]


def reading(value: float, device: str, at: float = 0.0) -> dict[str, Any]:
    return {
        "device_id": device,
        "metric": "temperature",
        "value": value,
        "timestamp": int((T0 + at) * 1000),
    }


def test_an_override_keeps_the_rules_resolve_threshold_unless_it_gives_one() -> None:
    """threshold alone inherits the rule's resolve_threshold; both replace both."""
    rule = rule_of(
        overrides={
            "frag-tank": {"threshold": 26.9},
            "sump": {"threshold": 28, "resolve_threshold": 27.5},
        }
    )
    assert rule.limits_for("frag-tank") == Limits(26.9, 26.8, "override for frag-tank")
    assert rule.limits_for("sump") == Limits(28.0, 27.5, "override for sump")
    assert rule.limits_for("display-tank") == Limits(27.0, 26.8, "rule")


def test_the_devices_limits_decide_holds_and_clears_and_the_reading_names_them() -> None:
    """26.95 fires on the frag tank (26.5) only; its own hysteresis (26.0) resolves it."""
    rule = rule_of(overrides={"frag-tank": {"threshold": 26.5, "resolve_threshold": 26.0}})
    frag = rule.observe(reading(26.95, "frag-tank"))
    other = rule.observe(reading(26.95, "display-tank"))
    assert frag is not None and other is not None
    assert (frag.holds, frag.limit, frag.limit_source) == (True, 26.5, "override for frag-tank")
    assert (other.holds, other.limit, other.limit_source) == (False, 27.0, "rule")
    still = rule.observe(reading(26.2, "frag-tank"))
    back = rule.observe(reading(25.9, "frag-tank"))
    assert still is not None and back is not None
    assert (still.holds, still.clears) == (False, False)
    assert (back.holds, back.clears) == (False, True)


def test_a_rule_with_overrides_says_which_limit_applied_by_default() -> None:
    """The default message gains {limit_source}; a rule without overrides keeps the old one."""
    assert (
        "{limit_source}"
        in rule_of(overrides={"frag-tank": {"threshold": 27.5}}).message_template.text
    )
    assert rule_of().message_template.text == THRESHOLD_MESSAGE


def test_bad_overrides_name_the_rule_and_the_field() -> None:
    """A non-number, an unknown key, a resolve_threshold on the wrong side (own or rule's)."""
    found = problems(
        hot(
            overrides={
                "a": {"threshold": "warm"},
                "b": {"treshold": 26},
                "c": {"threshold": 26.5, "resolve_threshold": 26.9},
                "d": {"threshold": 26.5},
                "e": 26.5,
            }
        )
    )
    assert found == [
        'rule "too-hot": rules[0].overrides.a.threshold: expected a number, got "warm"',
        'rule "too-hot": rules[0].overrides.b.treshold: is an unknown key '
        "(expected threshold or resolve_threshold)",
        'rule "too-hot": rules[0].overrides.c.resolve_threshold: must be <= threshold (26.5) '
        'with operator ">", got 26.9: the alert resolves once the value is no longer > '
        "resolve_threshold",
        'rule "too-hot": rules[0].overrides.d.resolve_threshold: (the rule\'s) must be <= '
        'threshold (26.5) with operator ">", got 26.8: the alert resolves once the value is '
        "no longer > resolve_threshold",
        'rule "too-hot": rules[0].overrides.e.threshold: expected a mapping of threshold and '
        "resolve_threshold, got 26.5",
    ]


def test_hysteresis_in_an_override_needs_an_ordering_operator() -> None:
    """resolve_threshold in an override is refused with == as it is on the rule."""
    rule = {k: v for k, v in hot(operator="==").items() if k != "resolve_threshold"}
    found = problems({**rule, "overrides": {"a": {"threshold": 1, "resolve_threshold": 2}}})
    assert found == [
        'rule "too-hot": rules[0].overrides.a.resolve_threshold: is not allowed with operator '
        '"==": hysteresis needs one of >, >=, < or <='
    ]


def test_the_stage_puts_the_applied_limit_in_the_message_alert_and_record(
    redis_client: redis.Redis,
) -> None:
    """The frag tank's trigger carries 26.5 and its source; the display tank's the rule's 27."""
    rules = compile_rules(
        hot(overrides={"frag-tank": {"threshold": 26.5, "resolve_threshold": 26}})
    )
    stage = StatefulStage(RuleEngine(rules).stateful, Lifecycle(redis_client), Clock(now=T0 + 5))
    changes: list[Change] = []
    for offset, (value, device) in enumerate(
        [(26.7, "frag-tank"), (27.4, "display-tank"), (26.7, "display-tank")], start=1
    ):
        item = Decoded(
            FakeMessage(TOPIC, 0, offset, None), Source(TOPIC, 0, offset), reading(value, device)
        )
        found = stage.apply(stage.observe(item, T0 + 5), T0 + 5)
        changes += [c for c in found if isinstance(c, Change)]
    frag, display, resolved = changes
    assert [c.transition.kind for c in changes] == ["trigger", "trigger", "resolve"]
    assert resolved.alert_event().threshold_value == 27.0
    assert frag.alert_event().threshold_value == 26.5
    assert frag.alert_event().metadata["limit_source"] == "override for frag-tank"
    assert display.alert_event().threshold_value == 27.0
    frag_note, display_note = stage.notifications(changes, "now")  # resolves not notified
    assert (
        frag_note.message
        == "Too hot: frag-tank temperature = 26.7 (> 26.5, override for frag-tank)"
    )
    assert display_note.message == "Too hot: display-tank temperature = 27.4 (> 27.0, rule)"
    assert frag_note.alert is not None
    assert (frag_note.alert["threshold"], frag_note.alert["limit_source"]) == (
        26.5,
        "override for frag-tank",
    )
