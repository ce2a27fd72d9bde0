"""A failure while processing one decoded event is that event's, never the batch's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from alerts.lifecycle import Lifecycle
from alerts.stateful_stage import StatefulStage
from contract.notification import Source
from ingest.cooldown import Cooldowns
from ingest.decoding import Decoder
from ingest.pipeline import Decoded, Failures, Pipeline
from rules.config import load_config
from rules.engine import RuleEngine
from tests.support import yamlfile

NOW = 1_750_000_000.0
TOPIC = "plates"


@dataclass
class Message:
    """A consumed message as the pipeline reads it (confluent_kafka's cannot be built)."""

    value_bytes: bytes | None
    at: int
    topic_name: str = TOPIC

    def topic(self) -> str:
        return self.topic_name

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.at

    def value(self) -> bytes | None:
        return self.value_bytes

    def key(self) -> bytes | None:
        return None

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (0, 0)

    def error(self) -> None:
        return None


class Hostile:
    """A value that raises when hashed or shown: no decoder yields one, a bug might."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __hash__(self) -> int:
        raise self.error

    def __str__(self) -> str:
        raise self.error


def pipeline(tmp_path: Path, client: redis.Redis, rules: list[dict[str, Any]]) -> Pipeline:
    path = tmp_path / "rules.yaml"
    notifications = {"webhook": {"url": "http://127.0.0.1:9/hook"}}
    path.write_text(yamlfile.dump({"notifications": notifications, "rules": rules}))
    engine = RuleEngine(load_config(path, env={}).rules)
    decoders = {topic: Decoder(topic, "json") for topic in engine.topics}
    clock = lambda: NOW  # noqa: E731 - a fixed clock
    stateful = StatefulStage(engine.stateful, Lifecycle(client), clock=clock)
    return Pipeline(engine, decoders, Cooldowns(client), stateful, clock=clock)


def rule(rule_id: str, conditions: list[dict[str, Any]], template: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "source": TOPIC,
        "notify": ["webhook"],
        "message_template": template,
        "conditions": conditions,
    }


def decoded(offset: int, event: dict[str, Any]) -> Decoded:
    return Decoded(Message(b"{}", offset), Source(TOPIC, 0, offset), event)


def test_an_event_that_breaks_a_rule_is_rejected_and_the_others_match(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    """An exception while evaluating one event rejects it, naming the step; others match."""
    lanes = rule("lanes", [{"field": "lane", "operator": "in_list", "value": [1, 2]}], "{lane}")
    stage = pipeline(tmp_path, redis_client, [lanes])
    failures = Failures()
    items = [decoded(0, {"lane": 1}), decoded(1, {"lane": Hostile(RuntimeError("boom"))})]
    items.append(decoded(2, {"lane": 2}))
    matches = stage.evaluate(items, failures)
    assert [m.decoded.source.offset for m in matches] == [0, 2]
    (rejected,) = failures.rejected
    assert rejected.message.offset() == 1
    assert rejected.reason == "evaluating rules failed: RuntimeError: boom"


def test_an_event_whose_message_cannot_be_built_sends_nothing_and_others_are_built(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    """An exception while rendering one event's message rejects that event only."""
    plates = rule(
        "plates", [{"field": "plate", "operator": "equals", "value": "ABC"}], "{plate} {camera}"
    )
    stage = pipeline(tmp_path, redis_client, [plates])
    failures = Failures()
    items = [decoded(0, {"plate": "ABC", "camera": Hostile(ValueError("no text"))})]
    items.append(decoded(1, {"plate": "ABC", "camera": "gate"}))
    built = stage.notifications(stage.evaluate(items, failures), failures, "now")
    assert [n.message for n in built] == ["ABC gate"]
    assert [r.reason for r in failures.rejected] == [
        "building the notifications of rule plates failed: ValueError: no text"
    ]


def test_a_dependency_error_inside_an_event_step_is_not_blamed_on_the_event(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    """A Redis error raised during a per-event step stops the batch (it will be retried)."""
    lanes = rule("lanes", [{"field": "lane", "operator": "in_list", "value": [1, 2]}], "{lane}")
    stage = pipeline(tmp_path, redis_client, [lanes])
    failures = Failures()
    down = decoded(0, {"lane": Hostile(redis.ConnectionError("Redis went away"))})
    with pytest.raises(redis.ConnectionError):
        stage.evaluate([down], failures)
    assert failures.rejected == []


def test_a_reading_with_an_impossible_time_alerts_at_the_time_it_was_received(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    """A timestamp of 1e300 ms (once a crash building the message) reads as 'received now'."""
    hot = {
        "id": "hot",
        "type": "threshold",
        "source": TOPIC,
        "metric": "temperature",
        "operator": ">",
        "threshold": 80.0,
        "notify": ["webhook"],
        "message_template": "{device_id} {current_value} since {triggered_at}",
    }
    stage = pipeline(tmp_path, redis_client, [hot])
    reading = b'{"device_id":"%s","metric":"temperature","value":90,"timestamp":%s}'
    batch = [
        Message(reading % (b"a", b"1700000000000"), 0),
        Message(reading % (b"b", b"1e300"), 1),
        Message(reading % (b"c", b"-1e300"), 2),
    ]
    outcome = stage.process(batch)
    assert outcome.rejected == []
    assert [n.message for n in outcome.notifications] == [
        "a 90.0 since 2023-11-14T22:13:20+00:00",
        "b 90.0 since 2025-06-15T15:06:40+00:00",
        "c 90.0 since 2025-06-15T15:06:40+00:00",
    ]


def test_poison_messages_in_a_batch_are_rejected_with_reasons_and_the_rest_goes_on(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    """Deep nesting, NaN and 5,000 brackets are rejected; the events around them match."""
    cams = rule("cams", [{"field": "camera_id", "operator": "equals", "value": "cam-9"}], "{n}")
    stage = pipeline(tmp_path, redis_client, [cams])
    deep = b'{"camera_id":"cam-9","deep":' + b'{"a":' * 599 + b"1" + b"}" * 600
    batch = [
        Message(b'{"camera_id":"cam-9","n":1}', 0),
        Message(b"[" * 5000 + b"]" * 5000, 1),
        Message(deep, 2),
        Message(b'{"camera_id":"cam-9","confidence":NaN}', 3),
        Message(b'{"camera_id":"cam-9","n":2}', 4),
    ]
    outcome = stage.process(batch)
    assert [n.message for n in outcome.notifications] == ["1", "2"]
    reasons = {r.message.offset(): r.reason for r in outcome.rejected}
    assert reasons[1].startswith("nesting deeper than max_depth (64)")
    assert reasons[2].startswith("nesting deeper than max_depth (64) at deep.a")
    assert reasons[3].startswith("invalid JSON: NaN at char")


def test_a_trend_verdict_that_fails_rejects_its_event_and_takes_no_lifecycle_step(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    """An average that overflows dead-letters its event; its threshold reading is dropped."""
    average = {
        "id": "avg",
        "type": "moving_average",
        "source": TOPIC,
        "metric": "temperature",
        "state_key": "tank",
        "readings": 2,
        "operator": ">",
        "threshold": 100,
        "notify": ["webhook"],
    }
    hot = {
        "id": "hot",
        "type": "threshold",
        "source": TOPIC,
        "metric": "temperature",
        "operator": ">",
        "threshold": 80,
        "device_id": ["s2"],
        "notify": ["webhook"],
    }
    stage = pipeline(tmp_path, redis_client, [average, hot])
    reading = b'{"device_id":"%s","tank":"%s","metric":"temperature","value":%s}'
    batch = [
        Message(reading % (b"s1", b"A", b"1e308"), 0),
        Message(reading % (b"s2", b"A", b"1e308"), 1),  # the mean of two overflows
        Message(reading % (b"s2", b"B", b"90"), 2),
    ]
    outcome = stage.process(batch)
    assert [(r.message.offset(), r.reason) for r in outcome.rejected] == [
        (1, "judging the trend of rule avg failed: OverflowError: intermediate overflow in fsum")
    ]
    # s2's alert comes from offset 2: offset 1 took no step in hot's lifecycle.
    assert [(n.rule_id, n.source.offset) for n in outcome.notifications] == [("hot", 2)]
    assert [event.rule_id for event, _ in outcome.alert_events] == ["hot"]
