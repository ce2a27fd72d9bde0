"""Range rules: bands, warning/critical levels with their own channels, per-device overrides.

Rules come from the real loader; readings go through the stateful stage in a real Redis,
with event times in the readings and an injected receive clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
import yaml

from alerts.level_stage import LevelChange
from alerts.lifecycle import Lifecycle
from alerts.stateful_stage import StatefulStage
from contract.notification import Notification, Source
from contract.problems import ProblemSink
from ingest.pipeline import Decoded
from rules.config import check_config
from rules.engine import RuleEngine
from rules.loader import load_rules
from rules.range import RangeRule
from tests.support.fakes import Clock, FakeMessage
from tests.support.rules import ALL_CHANNELS, compile_rules

TOPIC = "devices.readings"
REEF = Path(__file__).resolve().parents[2] / "config" / "reef_rules.yaml"
T0 = 1_700_000_000.0


def band(**extra: Any) -> dict[str, Any]:
    """Temperature 25..27 warning on Slack, 24..28 critical on SMS, resolves notified."""
    return {
        "id": "temp-band",
        "name": "Tank temperature",
        "type": "range",
        "metric": "temperature",
        "notify": ["slack"],
        "notify_on_resolve": True,
        "levels": [
            {"severity": "warning", "low": 25, "high": 27},
            {"severity": "critical", "low": 24, "high": 28, "notify": ["sms"]},
        ],
        **extra,
    }


def problems(*items: dict[str, Any]) -> list[str]:
    sink = ProblemSink("test.yaml")
    load_rules(yaml.safe_load(yaml.safe_dump(list(items))), sink, ALL_CHANNELS, "plates")
    return [str(p).removeprefix("test.yaml: ") for p in sink.problems]


class Feed:
    """Readings of one partition, offsets counting up, through a stage with these rules."""

    def __init__(self, client: redis.Redis, *rules: dict[str, Any]) -> None:
        self.clock = Clock(now=T0 + 5)
        engine = RuleEngine(compile_rules(*rules))
        self.stage = StatefulStage(engine.stateful, Lifecycle(client), self.clock)
        self.offset = 0

    def send(self, value: float, at: float, device: str = "tank-1") -> list[LevelChange]:
        """One reading of ``device`` ``at`` seconds after T0; the level changes it caused."""
        self.offset += 1
        event = {
            "device_id": device,
            "metric": "temperature",
            "value": value,
            "timestamp": int((T0 + at) * 1000),
        }
        message = FakeMessage(TOPIC, 0, self.offset, None)
        item = Decoded(message, Source(TOPIC, 0, self.offset), event)
        now = self.stage.clock()
        changes = self.stage.apply(self.stage.observe(item, now), now)
        assert all(isinstance(c, LevelChange) for c in changes)
        return [c for c in changes if isinstance(c, LevelChange)]

    def notify(self, value: float, at: float, device: str = "tank-1") -> list[Notification]:
        return self.stage.notifications(self.send(value, at, device), "now")


def kinds(changes: list[LevelChange]) -> list[tuple[str, str]]:
    return [(c.transition.kind, c.level.severity) for c in changes]


def sent(notifications: list[Notification]) -> list[tuple[str, str]]:
    return [(n.channel, n.transition) for n in notifications]


# -- loading ------------------------------------------------------------------------------


def test_a_single_band_loads_as_one_warning_level_on_the_rules_channels() -> None:
    """low/high without levels: one warning level notifying the rule's channels."""
    (rule,) = compile_rules(
        {"id": "ph", "type": "range", "metric": "ph", "low": 7.8, "high": 8.4, "notify": ["slack"]}
    )
    assert isinstance(rule, RangeRule)
    assert rule.source == TOPIC
    (level,) = rule.levels
    assert (level.severity, level.low, level.high) == ("warning", 7.8, 8.4)
    assert level.channels == ("slack",)


def test_levels_are_ordered_by_severity_and_channels_cover_every_level() -> None:
    """Levels given critical first still rank warning, critical; the rule's channels union."""
    (rule,) = compile_rules(band(levels=list(reversed(band()["levels"]))))
    assert isinstance(rule, RangeRule)
    assert [level.severity for level in rule.levels] == ["warning", "critical"]
    assert rule.channels == ("slack", "sms")


def test_bad_bands_are_reported_with_rule_and_field() -> None:
    """A band without bounds, low above high, an unknown severity and a twice-given level."""
    found = problems(
        {"id": "a", "type": "range", "metric": "t", "notify": ["slack"]},
        {"id": "b", "type": "range", "metric": "t", "low": 5, "high": 1, "notify": ["slack"]},
        band(id="c", levels=[{"severity": "dire", "high": 3}]),
        band(id="d", levels=[{"severity": "warning", "high": h} for h in (3, 4)]),
        band(id="e", low=1),
        band(id="f", overrides={"frag": {"emergency": {"high": 1}}}),
    )
    assert any("rules[0].low" in p and "needs low, high" in p for p in found), found
    assert any("rules[1].low" in p and "must be below high" in p for p in found), found
    assert any("rules[2].levels[0].severity" in p and "dire" in p for p in found), found
    assert any("rules[3].levels[1].severity" in p and "twice" in p for p in found), found
    assert any("rules[4].low" in p and "cannot be combined with levels" in p for p in found), found
    assert any("rules[5].overrides.frag" in p and "emergency" in p for p in found), found


def test_the_reef_example_uses_bands_levels_trends_and_expected_devices() -> None:
    """config/reef_rules.yaml loads without errors, with every kind the docs describe."""
    config, found = check_config(REEF, env={})
    assert [p for p in found if not p.warning] == []
    assert config is not None
    kinds = {type(rule).__name__ for rule in config.rules}
    assert kinds == {"ThresholdRule", "RangeRule", "TrendRule"}
    band = next(r for r in config.rules if r.id == "reef_temperature_band")
    assert isinstance(band, RangeRule)
    assert [level.severity for level in band.levels] == ["warning", "critical"]
    assert band.levels_for("frag-tank")[0].high == 26.5
    assert band.expected_devices == ("display-tank", "frag-tank", "sump")


# -- levels -------------------------------------------------------------------------------


def test_warning_then_critical_then_resolve_notifies_slack_then_sms_then_both(
    redis_client: redis.Redis,
) -> None:
    """One alert: warning on Slack, escalates to critical on SMS, resolves on both."""
    feed = Feed(redis_client, band())

    assert feed.notify(26.0, 0) == []
    trigger = feed.notify(27.3, 60)
    assert sent(trigger) == [("slack", "trigger")]
    assert "[warning]" in trigger[0].message and "outside 25..27" in trigger[0].message
    escalate = feed.notify(28.4, 120)
    assert sent(escalate) == [("sms", "escalate")]
    assert "[critical]" in escalate[0].message
    assert escalate[0].alert is not None and trigger[0].alert is not None
    assert escalate[0].alert["id"] == trigger[0].alert["id"]  # the same alert
    assert feed.notify(28.6, 180) == []  # still critical: nothing new
    resolve = feed.notify(26.0, 240)
    assert sorted(sent(resolve)) == [("slack", "resolve"), ("sms", "resolve")]
    assert {n.alert["id"] for n in resolve if n.alert} == {trigger[0].alert["id"]}


def test_critical_back_to_warning_is_a_deescalation_of_the_same_alert(
    redis_client: redis.Redis,
) -> None:
    """From critical a reading inside the critical band steps down to warning, same alert."""
    feed = Feed(redis_client, band())

    assert kinds(feed.send(28.5, 0)) == [("trigger", "critical")]
    down = feed.send(27.5, 30)
    assert kinds(down) == [("deescalate", "warning")]
    assert sent(feed.stage.notifications(down, "now")) == [("sms", "deescalate")]
    assert kinds(feed.send(26.5, 60)) == [("resolve", "warning")]


def test_for_seconds_applies_per_level(redis_client: redis.Redis) -> None:
    """Critical with for_seconds 60 waits its minute while warning fires at once."""
    rule = band()
    rule["levels"][1]["for_seconds"] = "1m"
    feed = Feed(redis_client, rule)

    assert kinds(feed.send(28.5, 0)) == [("trigger", "warning")]
    assert feed.send(28.5, 30) == []
    assert kinds(feed.send(28.5, 60)) == [("escalate", "critical")]


def test_hysteresis_and_repeat_apply_per_level(redis_client: redis.Redis) -> None:
    """Warning clears only 0.2 inside its band; reminders come every warning repeat."""
    rule = band()
    rule["levels"][0].update({"hysteresis": 0.2, "repeat_interval": "5m"})
    feed = Feed(redis_client, rule)

    assert kinds(feed.send(27.5, 0)) == [("trigger", "warning")]
    assert feed.send(26.9, 60) == []  # inside, but not by 0.2
    assert kinds(feed.send(27.1, 300)) == [("reminder", "warning")]
    assert kinds(feed.send(26.8, 320)) == [("resolve", "warning")]


def test_a_replayed_reading_returns_its_transition_again_and_changes_nothing(
    redis_client: redis.Redis,
) -> None:
    """Replaying an offset gives back the same escalation, not a second one."""
    feed = Feed(redis_client, band())
    feed.send(27.5, 0)
    first = feed.send(28.5, 30)
    feed.offset -= 1
    again = feed.send(28.5, 30)
    assert [c.transition for c in again] == [c.transition for c in first]
    assert feed.send(28.7, 40) == []


def test_an_alert_at_a_level_a_reload_removed_carries_on_at_the_top_level(
    redis_client: redis.Redis,
) -> None:
    """Critical firing, then the rule loses its critical level: no error, it resolves."""
    Feed(redis_client, band()).send(28.5, 0)
    one_level = band(levels=[{"severity": "warning", "low": 25, "high": 27}])
    feed = Feed(redis_client, one_level)
    feed.offset = 1
    assert feed.send(27.5, 30) == []
    assert kinds(feed.send(26.0, 60)) == [("resolve", "warning")]


# -- overrides ----------------------------------------------------------------------------


def test_a_per_device_override_wins_over_the_rule_and_the_alert_says_so(
    redis_client: redis.Redis,
) -> None:
    """frag-tank warns above 26.5 while other tanks still need 27; the message names it."""
    feed = Feed(redis_client, band(overrides={"frag-tank": {"warning": {"high": 26.5}}}))

    assert feed.notify(26.7, 0, device="tank-1") == []
    found = feed.notify(26.7, 0, device="frag-tank")
    assert sent(found) == [("slack", "trigger")]
    assert "outside 25..26.5 (override for frag-tank)" in found[0].message
    assert found[0].alert is not None and found[0].alert["limit"] == 26.5
    assert found[0].alert["limit_source"] == "override for frag-tank"


def test_a_single_band_override_replaces_only_the_bound_it_names(
    redis_client: redis.Redis,
) -> None:
    """overrides {frag-tank: {high: 26.5}} on a one-band rule keeps the rule's low."""
    rule = {
        "id": "temp",
        "type": "range",
        "metric": "temperature",
        "low": 25,
        "high": 27,
        "notify": ["slack"],
        "overrides": {"frag-tank": {"high": 26.5}},
    }
    feed = Feed(redis_client, rule)
    (low,) = feed.send(24.9, 0, device="frag-tank")
    assert (low.transition.kind, low.level.low, low.level.high) == ("trigger", 25.0, 26.5)
    assert feed.send(26.6, 10, device="frag-tank") == []  # above 26.5: still firing
    assert kinds(feed.send(26.6, 10, device="tank-1")) == []  # the rule's 27 for others
    assert kinds(feed.send(26.0, 20, device="frag-tank")) == [("resolve", "warning")]
