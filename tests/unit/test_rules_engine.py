"""The rule engine: compiled rules matched against events, per topic, in config order."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from contract.problems import ProblemSink
from rules.engine import RuleEngine
from rules.loader import ChannelDirectory, load_rules
from rules.model import Rule

CHANNELS = ChannelDirectory(
    known={"email": True, "slack": False, "sms": True, "webhook": False},
    configured={"email": True, "slack": True, "sms": False, "webhook": True},
)
SEED = Path(__file__).resolve().parents[2] / "config" / "alert_rules.yaml"


def rules_from(text: str, default_topic: str = "plates") -> tuple[Rule, ...]:
    sink = ProblemSink("test.yaml")
    rules = load_rules(yaml.safe_load(text), sink, CHANNELS, default_topic)
    assert sink.errors == []
    return rules


def rule(rule_id: str, conditions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "conditions": conditions,
        "notify": ["email"],
        "message_template": "{plate.normalized_text}",
        **extra,
    }


def engine_for(*items: dict[str, Any]) -> RuleEngine:
    return RuleEngine(rules_from(yaml.safe_dump(list(items))))


def ids(matched: list[Rule]) -> list[str]:
    return [r.id for r in matched]


def plate(text: str, **fields: Any) -> dict[str, Any]:
    return {"plate": {"normalized_text": text}, **fields}


def test_matches_come_back_in_config_order() -> None:
    """Indexed and scanned rules interleave in the order they are written."""
    engine = engine_for(
        rule("scan-first", [{"field": "speed", "operator": "greater_than", "value": 50}]),
        rule(
            "indexed", [{"field": "plate.normalized_text", "operator": "in_list", "value": ["A"]}]
        ),
        rule("scan-last", [{"field": "camera_id", "operator": "exists"}]),
        rule("other-index", [{"field": "camera_id", "operator": "equals", "value": "c1"}]),
    )
    event = plate("A", speed=60, camera_id="c1")
    assert ids(engine.evaluate("plates", event)) == [
        "scan-first",
        "indexed",
        "scan-last",
        "other-index",
    ]


def test_all_conditions_must_hold() -> None:
    """A rule matches only when every one of its conditions holds."""
    engine = engine_for(
        rule(
            "night-watch",
            [
                {"field": "plate.normalized_text", "operator": "in_list", "value": ["A", "B"]},
                {"field": "camera_id", "operator": "equals", "value": "gate"},
                {"field": "confidence", "operator": "greater_or_equal", "value": 0.8},
            ],
        )
    )
    assert ids(engine.evaluate("plates", plate("A", camera_id="gate", confidence=0.9))) == [
        "night-watch"
    ]
    assert engine.evaluate("plates", plate("A", camera_id="gate", confidence=0.5)) == []
    assert engine.evaluate("plates", plate("A", camera_id="lobby", confidence=0.9)) == []
    assert engine.evaluate("plates", plate("C", camera_id="gate", confidence=0.9)) == []


def test_disabled_rules_never_match() -> None:
    """A rule with enabled: false is loaded but not evaluated."""
    engine = engine_for(
        rule("off", [{"field": "camera_id", "operator": "exists"}], enabled=False),
        rule("on", [{"field": "camera_id", "operator": "exists"}]),
    )
    assert ids(engine.evaluate("plates", {"camera_id": "x"})) == ["on"]
    assert ids(list(engine.rules_for("plates"))) == ["on"]


def test_rules_are_routed_by_source_topic() -> None:
    """A rule only sees events of its source topic; the default topic applies otherwise."""
    engine = engine_for(
        rule("plates-rule", [{"field": "x", "operator": "exists"}]),
        rule("reef-rule", [{"field": "x", "operator": "exists"}], source="reef.readings"),
    )
    assert engine.topics == frozenset({"plates", "reef.readings"})
    assert ids(engine.evaluate("plates", {"x": 1})) == ["plates-rule"]
    assert ids(engine.evaluate("reef.readings", {"x": 1})) == ["reef-rule"]
    assert engine.evaluate("unknown.topic", {"x": 1}) == []


def test_odd_events_match_nothing() -> None:
    """Events without the fields, or not mappings at all, match nothing and never raise."""
    engine = engine_for(
        rule("indexed", [{"field": "plate.normalized_text", "operator": "equals", "value": "A"}]),
        rule("scan", [{"field": "speed", "operator": "less_than", "value": 10}]),
    )
    for event in (
        {},
        {"plate": None},
        {"plate": ["A"]},
        {"plate": {"normalized_text": 1}},
        None,
        "A",
    ):
        assert engine.evaluate("plates", event) == []


def test_evaluate_returns_a_fresh_list() -> None:
    """The caller may keep or change the returned list."""
    engine = engine_for(rule("r", [{"field": "x", "operator": "exists"}]))
    first = engine.evaluate("plates", {"x": 1})
    first.clear()
    assert ids(engine.evaluate("plates", {"x": 1})) == ["r"]


def test_engine_agrees_with_testing_every_rule() -> None:
    """The indexed engine returns exactly the enabled rules whose conditions all hold."""
    rng = random.Random(7)
    plates = ["A", "B", "C", "D"]
    cameras = ["c1", "c2"]
    choices = [
        lambda: {
            "field": "plate.normalized_text",
            "operator": "equals",
            "value": rng.choice(plates),
        },
        lambda: {
            "field": "plate.normalized_text",
            "operator": "in_list",
            "value": rng.sample(plates, 2),
        },
        lambda: {"field": "camera_id", "operator": "equals", "value": rng.choice(cameras)},
        lambda: {"field": "speed", "operator": "greater_than", "value": rng.randint(0, 100)},
        lambda: {"field": "plate.normalized_text", "operator": "not_in_list", "value": ["A"]},
        lambda: {"field": "camera_id", "operator": "exists", "value": rng.random() < 0.5},
    ]
    items = [
        rule(
            f"r{i}",
            [rng.choice(choices)() for _ in range(rng.randint(1, 3))],
            enabled=rng.random() < 0.9,
        )
        for i in range(60)
    ]
    rules = rules_from(yaml.safe_dump(items))
    engine = RuleEngine(rules)
    for _ in range(500):
        event: dict[str, Any] = {}
        if rng.random() < 0.9:
            event["plate"] = {"normalized_text": rng.choice([*plates, "Z"])}
        if rng.random() < 0.8:
            event["camera_id"] = rng.choice(cameras)
        if rng.random() < 0.8:
            event["speed"] = rng.randint(0, 100)
        expected = [r for r in rules if r.enabled and r.matches(event)]
        assert engine.evaluate("plates", event) == expected


def test_rule_renders_with_its_own_values() -> None:
    """Templates see rule_id, rule_name and priority; the default subject uses them."""
    (loaded,) = rules_from(
        yaml.safe_dump(
            [
                rule(
                    "watch",
                    [{"field": "x", "operator": "exists"}],
                    name="Watchlist",
                    priority="high",
                    message_template="{rule_id}: {plate.normalized_text} <{nope}>",
                )
            ]
        )
    )
    event = plate("ABC123")
    assert loaded.render_message(event) == "watch: ABC123 <<missing nope>>"
    assert loaded.render_subject(event) == "[high] Watchlist"
    assert loaded.render_message(event, escape=lambda s: s.upper()) == (
        "WATCH: ABC123 <<MISSING NOPE>>"
    )


def test_rate_limit_dedup_value() -> None:
    """The dedup key reads its field from the event; None when the event lacks it."""
    (loaded,) = rules_from(
        yaml.safe_dump(
            [
                rule(
                    "r",
                    [{"field": "x", "operator": "exists"}],
                    rate_limit={"cooldown_seconds": 60, "dedup_key": "camera_id"},
                )
            ]
        )
    )
    limit = loaded.rate_limit
    assert limit is not None
    assert limit.cooldown_seconds == 60
    assert limit.dedup_value({"camera_id": "c1"}) == "c1"
    assert limit.dedup_value({"camera_id": 7}) == "7"
    assert limit.dedup_value({}) is None


def test_seed_watchlist_rule_matches() -> None:
    """The seed's watchlist rule matches a watchlisted plate and renders its message."""
    sink = ProblemSink(str(SEED))
    data = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    rules = load_rules(data["rules"], sink, CHANNELS, "alpr.plates.detected")
    engine = RuleEngine(rules)
    event = {
        "plate": {"normalized_text": "ABC123"},
        "camera_id": "cam-1",
        "captured_at": 1700000000000,
    }
    (matched,) = engine.evaluate("alpr.plates.detected", event)
    assert matched.id == "watchlist_plate"
    assert matched.channels == ("email", "slack")  # sms is disabled in the seed
    assert matched.render_message(event) == (
        "🚨 WATCHLIST PLATE DETECTED\nPlate: ABC123\nCamera: cam-1\nTime: 1700000000000\n"
    )
    assert engine.evaluate("alpr.plates.detected", plate("QQQ111")) == []


def test_stateful_rules_are_not_matched_by_evaluate() -> None:
    """A match rule with state_key goes to stateful(), never to evaluate()."""
    engine = engine_for(
        rule("plain", [{"field": "camera_id", "operator": "exists"}]),
        rule("keyed", [{"field": "camera_id", "operator": "exists"}], state_key="camera_id"),
        rule("keyed-off", [{"field": "x", "operator": "exists"}], state_key="x", enabled=False),
    )
    event = {"camera_id": "c1"}
    assert ids(engine.evaluate("plates", event)) == ["plain"]
    assert ids(list(engine.rules_for("plates"))) == ["plain"]
    assert [r.id for r in engine.stateful("plates")] == ["keyed"]
    assert [r.id for r in engine.stateful_rules()] == ["keyed"]
    assert engine.topics == frozenset({"plates"})
    (keyed,) = engine.stateful("plates")
    reading = keyed.observe(event)
    assert reading is not None
    assert (reading.key, reading.holds, reading.clears) == ("c1", True, False)


def test_topics_include_stateful_only_topics() -> None:
    engine = engine_for(
        {
            "id": "temp",
            "type": "threshold",
            "metric": "temperature",
            "operator": ">=",
            "threshold": 30,
            "notify": ["email"],
        }
    )
    assert engine.topics == frozenset({"devices.readings"})
    assert engine.evaluate("devices.readings", {"metric": "temperature", "value": 40}) == []
    assert [r.id for r in engine.stateful("devices.readings")] == ["temp"]


def test_regexes_on_one_field_match_as_each_rule_alone_in_config_order() -> None:
    """Regex rules searched as one RE2 set match exactly what each rule's own test matches."""
    patterns = ["^AB[0-9]", "B1", "^A", "C$", "[0-9]{3}", "^Z", "AB1", "X|Y", "^$", "1C"]
    items = [
        rule(
            f"re{index}",
            [{"field": "plate.normalized_text", "operator": "regex", "value": pattern}]
            + ([{"field": "lane", "operator": "equals", "value": 2}] if index == 4 else []),
        )
        for index, pattern in enumerate(patterns)
    ]
    items.insert(3, rule("speed", [{"field": "speed", "operator": "greater_than", "value": 50}]))
    engine = engine_for(*items)
    rnd = random.Random(5)
    for _ in range(300):
        text = "".join(rnd.choice("AB1C23XZ") for _ in range(rnd.randint(0, 5)))
        event = plate(text, speed=rnd.choice([10, 60]), lane=rnd.choice([1, 2]))
        one_by_one = [r.id for r in engine.rules_for("plates") if r.matches(event)]
        assert ids(engine.evaluate("plates", event)) == one_by_one, event
    assert engine.evaluate("plates", {"plate": {"normalized_text": 7}}) == []
