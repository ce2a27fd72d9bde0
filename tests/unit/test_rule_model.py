"""The rule hierarchy and the transition kinds: one base, frozen rules, plain-text payloads."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import yaml

from contract.fast_publisher import notification_args
from contract.notification import Notification, Source, TransitionKind, notification_id
from contract.problems import ProblemSink
from rules.loader import ChannelDirectory, load_rules
from rules.model import BaseRule, Rule
from rules.stateful import AlertTerms, StatefulMatchRule, StatefulRule, ThresholdRule

CHANNELS = ChannelDirectory(known={"webhook": False}, configured={"webhook": True})
MATCH = {
    "id": "watch",
    "conditions": [{"field": "plate", "operator": "equals", "value": "ABC"}],
    "notify": ["webhook"],
    "message_template": "seen {plate}",
}
CAMERA = {**MATCH, "id": "cam", "state_key": "camera_id"}
THRESHOLD = {
    "id": "hot",
    "type": "threshold",
    "metric": "temperature",
    "operator": "greater_than",
    "threshold": 30,
    "notify": ["webhook"],
}


def load(*items: dict[str, Any]) -> tuple[BaseRule, ...]:
    sink = ProblemSink("test.yaml")
    rules = load_rules(yaml.safe_load(yaml.safe_dump(list(items))), sink, CHANNELS, "plates")
    assert sink.errors == []
    return rules


def test_every_kind_is_a_base_rule_and_only_stateful_kinds_are_stateful() -> None:
    """Match, stateful match and threshold rules share one base; the stateful two a second."""
    match, camera, threshold = load(MATCH, CAMERA, THRESHOLD)
    assert [type(r) for r in (match, camera, threshold)] == [
        Rule,
        StatefulMatchRule,
        ThresholdRule,
    ]
    assert all(isinstance(r, BaseRule) for r in (match, camera, threshold))
    assert not isinstance(match, StatefulRule)
    assert isinstance(camera, StatefulRule) and isinstance(threshold, StatefulRule)


def test_rules_are_frozen_and_compare_by_identity() -> None:
    """A loaded rule cannot be changed, and two equal-looking rules are still two rules."""
    (first,) = load(THRESHOLD)
    (second,) = load(THRESHOLD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.name = "changed"
    assert first != second
    assert len({first, second}) == 2


def test_alert_terms_describe_a_threshold_and_nothing_for_a_match_rule() -> None:
    """A threshold's alert names metric, symbol and threshold; a match rule's names none."""
    camera, threshold = load(CAMERA, THRESHOLD)
    assert isinstance(camera, StatefulRule) and isinstance(threshold, StatefulRule)
    assert threshold.alert_terms() == AlertTerms("threshold", "temperature", ">", 30.0)
    assert camera.alert_terms() == AlertTerms("match")


def test_transition_kinds_travel_as_their_plain_text() -> None:
    """Payloads, task args and task ids carry the same text as before the enum."""
    notification = Notification(
        id="n1",
        channel="webhook",
        rule_id="hot",
        rule_name="hot",
        priority="high",
        message="m",
        subject="s",
        event={"a": 1},
        matched_at="2024-01-01T00:00:00+00:00",
        source=Source("t", 0, 5),
        transition=TransitionKind.RESOLVE,
    )
    payload = notification.to_dict()
    assert type(payload["transition"]) is str
    assert type(notification_args(notification)["transition"]) is str
    assert json.dumps(payload) == json.dumps(notification_args(notification))
    back = Notification.from_dict(json.loads(json.dumps(payload)))
    assert back.transition is TransitionKind.RESOLVE
    assert notification_id("t", 0, 5, "hot", "webhook", TransitionKind.RESOLVE) == (
        notification_id("t", 0, 5, "hot", "webhook", "resolve")
    )
