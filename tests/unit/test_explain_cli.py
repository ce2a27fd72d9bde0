"""``klaxon explain``: verdicts per condition, the match kind of a hotlist read, --live state."""

from __future__ import annotations

import json
import re
from pathlib import Path

import redis
from click.testing import CliRunner, Result

from contract.settings import PROJECT_ROOT
from klaxon.cli import main

WATCHLIST_RULES = PROJECT_ROOT / "tests" / "rules" / "fixtures" / "watchlist_rules.yaml"
DEV_RULES = PROJECT_ROOT / "config" / "dev.yaml"


def explain(tmp_path: Path, event: dict[str, object], *args: str, **env: str) -> Result:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return CliRunner().invoke(main, ["explain", str(path), *args], env=env or None)


def test_a_confusable_plate_prints_the_match_kind(tmp_path: Path) -> None:
    """A8C123 against a list holding ABC123: a confusable match, and the message to send."""
    result = explain(
        tmp_path,
        {"plate": {"normalized_text": "A8C123"}, "camera_id": "cam-1"},
        "--rules",
        str(WATCHLIST_RULES),
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "rule stolen (stolen): MATCHED"
    assert lines[1] == (
        '  ✓ plate.normalized_text = "A8C123"; in_watchlist stolen_vehicles: '
        "confusable match ABC123 (1 character(s) differ)"
    )
    assert "  stolen webhook match: ABC123: read A8C123, confusable at cam-1" in lines


def test_each_condition_shows_the_value_found_and_the_verdict(tmp_path: Path) -> None:
    """A plate on no list: every rule's conditions say what they read and why they fail."""
    result = explain(tmp_path, {"plate": {"normalized_text": "QQQ1"}}, "--rules", str(DEV_RULES))
    assert result.exit_code == 0, result.output
    assert '  ✗ plate.normalized_text = "QQQ1"; in_list ["ABC123", "XYZ789"]: no' in result.output
    assert '  ✗ plate.normalized_text = "QQQ1"; regex "^7GX[0-9]{3}$": no' in result.output
    assert result.output.splitlines()[-1] == "next: nothing would be sent"


def test_a_grouped_match_names_its_group_and_when_it_goes_out(tmp_path: Path) -> None:
    """A stolen-pattern plate is held in its camera's group and sent after the wait."""
    event = {"plate": {"normalized_text": "7GX001"}, "camera_id": "cam-9", "vehicle": {}}
    result = explain(tmp_path, event, "--rules", str(DEV_RULES), "--rule", "stolen_vehicle")
    assert result.exit_code == 0, result.output
    assert "  group: held in group 'camera_id=cam-9', sent 10s after its first match" in (
        result.output
    )
    assert "  after 10s: stolen_vehicle slack group: 1 possible stolen vehicle(s)" in result.output


def test_live_reads_a_held_cooldown_and_writes_nothing(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str
) -> None:
    """--live finds the cooldown the bridge took, says it suppresses, and leaves Redis as it was."""
    redis_client.set("klaxon:cooldown:watchlist_plate:ABC123", "alpr.plates.detected/0/7", ex=60)
    before = {k: redis_client.dump(k) for k in redis_client.keys("*")}
    result = explain(
        tmp_path,
        {"plate": {"normalized_text": "ABC123"}, "camera_id": "cam-1"},
        "--rules",
        str(DEV_RULES),
        "--live",
        REDIS_URL=redis_url,
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"  cooldown: held by alpr.plates.detected/0/7 for \d+s more", result.output)
    assert result.output.splitlines()[-1] == "next: nothing would be sent"
    assert {k: redis_client.dump(k) for k in redis_client.keys("*")} == before


def test_an_unknown_rule_is_named_with_the_rules_on_the_topic(tmp_path: Path) -> None:
    """--rule with a typo: exit 2 and the rules that do read the topic."""
    result = explain(tmp_path, {"a": 1}, "--rules", str(DEV_RULES), "--rule", "stolen")
    assert result.exit_code == 2
    assert "no rule 'stolen' on topic 'alpr.plates.detected'" in result.output
    assert "stolen_vehicle, watchlist_plate" in result.output
