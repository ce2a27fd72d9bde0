"""Silence and inhibit matchers: the four operators, anchored RE2 regexes, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rules.config import check_config
from rules.matchers import MatcherError, Subject, parse_label_value, parse_matcher

EVENT = {"camera_id": "gate-1", "plate": {"normalized_text": "ABC123"}, "site_id": 7}
SUBJECT = Subject("tank_temperature_high", "high", "webhook", EVENT)


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("rule_id=tank_temperature_high", True),
        ("rule_id=tank", False),
        ("rule_id!=tank", True),
        ("rule_id=~tank_.*", True),
        ("rule_id=~temperature", False),  # anchored: not a substring search
        ("rule_id!~tank_.*", False),
        ("rule_id=~tank_temperature_high|other", True),  # alternation inside the anchors
        ("priority=high", True),
        ("channel=email", False),
        ("camera_id=~gate-.*", True),
        ("camera_id=~ate-1", False),
        ("plate.normalized_text=ABC123", True),
        ("site_id=7", True),  # numbers read as they print
        ("device_id=", True),  # a missing label reads as ""
        ("device_id!=x", True),
        ("device_id=x", False),
        ("  camera_id = gate-1", False),  # the value keeps its spaces: " gate-1"
    ],
)
def test_a_matcher_matches_as_alertmanager_would(text: str, matches: bool) -> None:
    """Each operator on own labels and event paths, regexes fully anchored."""
    assert parse_matcher(text).matches(SUBJECT) is matches


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("camera_id", 'bad matcher "camera_id": expected NAME=VALUE'),
        ("=x", 'bad matcher "=x": expected NAME=VALUE'),
        (
            "camera_id=~gate-(",
            'bad matcher "camera_id=~gate-(": invalid regex: missing ): gate-(',
        ),
        ("rule_id=~(a)\\1", 'bad matcher "rule_id=~(a)\\1": invalid regex'),
        ("plate..text=x", 'bad matcher "plate..text=x": invalid field path'),
    ],
)
def test_a_bad_matcher_gets_an_error_naming_it(text: str, says: str) -> None:
    """The error quotes the matcher and says what is wrong with it."""
    with pytest.raises(MatcherError) as caught:
        parse_matcher(text)
    assert str(caught.value).startswith(says)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("controller_offline", "rule_id=controller_offline"),
        ("=~tank_.*", "rule_id=~tank_.*"),
        ("!=x", "rule_id!=x"),
        ("!~x.*", "rule_id!~x.*"),
    ],
)
def test_an_inhibit_value_may_start_with_its_operator(value: str, text: str) -> None:
    """``{rule_id: "=~tank_.*"}`` is a regex matcher; a plain value is an equality."""
    assert str(parse_label_value("rule_id", value)) == text


def test_a_bad_inhibit_rule_is_reported_with_its_field(tmp_path: Path) -> None:
    """A bad regex, a missing target and a bad equal label each name their place."""
    path = tmp_path / "rules.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "notifications": {"webhook": {"url": "http://127.0.0.1:9/x"}},
                "rules": [],
                "inhibit": [
                    {"source": {"rule_id": "controller_offline"},
                     "target": {"rule_id": "=~tank_("}, "equal": ["site..id"]},
                    {"source": {"rule_id": "controller_offline"}},
                ],
            }
        )
    )  # fmt: skip
    config, problems = check_config(path)
    assert config is None
    shown = {f"{p.field}: {p.message}" for p in problems if not p.warning}
    assert shown == {
        'inhibit[0].target.rule_id: bad matcher "rule_id=~tank_(": invalid regex: '
        "missing ): tank_(",
        'inhibit[0].equal[0]: invalid field path "site..id": expected names separated by '
        "dots, like plate.normalized_text",
        "inhibit[1].target: is required",
    }


def test_an_inhibit_source_that_no_stateful_rule_matches_gets_a_warning(tmp_path: Path) -> None:
    """A stateless source never fires: the config loads, with a warning on that source."""
    rule = {
        "id": "controller_offline",
        "conditions": [{"field": "status", "operator": "equals", "value": "offline"}],
        "notify": ["webhook"],
        "message_template": "offline",
    }
    inhibit = [{"source": {"rule_id": "controller_offline"}, "target": {"rule_id": "=~tank_.*"}}]
    path = tmp_path / "rules.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "notifications": {"webhook": {"url": "http://127.0.0.1:9/x"}},
                "rules": [rule],
                "inhibit": inhibit,
            }
        )
    )
    config, problems = check_config(path)
    assert config is not None
    assert [(p.field, p.warning) for p in problems] == [("inhibit[0].source", True)]

    path.write_text(
        yaml.safe_dump(
            {
                "notifications": {"webhook": {"url": "http://127.0.0.1:9/x"}},
                "rules": [{**rule, "state_key": "site_id"}],
                "inhibit": inhibit,
            }
        )
    )
    assert check_config(path)[1] == []
