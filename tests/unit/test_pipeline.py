"""The bridge's pipeline step by step: decode, evaluate, admit, build, against a real Redis."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from alerts.lifecycle import Lifecycle
from alerts.stateful_stage import StatefulStage
from contract.notification import Notification, Source, notification_id
from ingest.cooldown import Cooldowns
from ingest.decoding import Decoder
from ingest.pipeline import Decoded, Failures, Match, Pipeline, Rejected
from rules.engine import RuleEngine
from tests.support.fakes import Clock, FakeMessage
from tests.support.rules import compile_rules

TOPIC = "alpr.plates.detected"
MATCHED_AT = "2023-11-14T22:13:20+00:00"  # Clock()'s instant, as the pipeline writes it

WATCHLIST: dict[str, Any] = {
    "id": "watchlist",
    "name": "Watchlist plate",
    "priority": "high",
    "source": TOPIC,
    "conditions": [
        {"field": "plate.normalized_text", "operator": "in_list", "value": ["ABC123", "XYZ789"]}
    ],
    "notify": ["webhook", "email"],
    "message_template": "Plate {plate.normalized_text} at {camera_id}",
    "rate_limit": {"cooldown_seconds": 300},
}
UNSURE: dict[str, Any] = {
    "id": "unsure-read",
    "source": TOPIC,
    "conditions": [{"field": "plate.confidence", "operator": "less_than", "value": 0.5}],
    "notify": ["webhook"],
    "message_template": "Unsure read at {camera_id}",
}


def plate(text: str, camera: str = "cam-<n>", confidence: float = 0.97) -> dict[str, Any]:
    return {"camera_id": camera, "plate": {"normalized_text": text, "confidence": confidence}}


def message(event: dict[str, Any], offset: int, partition: int = 0) -> FakeMessage:
    return FakeMessage(TOPIC, partition, offset, json.dumps(event).encode())


@pytest.fixture
def pipeline(redis_client: redis.Redis) -> Pipeline:
    engine = RuleEngine(compile_rules(WATCHLIST, UNSURE))
    clock = Clock()
    stage = StatefulStage(engine.stateful, Lifecycle(redis_client), clock)
    decoders = {TOPIC: Decoder(TOPIC, "auto")}
    return Pipeline(engine, decoders, Cooldowns(redis_client), stage, clock)


def decoded(event: dict[str, Any], offset: int, partition: int = 0) -> Decoded:
    return Decoded(message(event, offset, partition), Source(TOPIC, partition, offset), event)


def rule(pipeline: Pipeline, rule_id: str) -> Any:
    (found,) = [r for r in pipeline.engine.rules_for(TOPIC) if r.id == rule_id]
    return found


def test_decode_keeps_good_events_with_their_source_and_rejects_the_rest(
    pipeline: Pipeline,
) -> None:
    """JSON events decode with topic/partition/offset; garbage and unknown topics are rejected."""
    good = message(plate("ABC123"), offset=7, partition=2)
    garbage = FakeMessage(TOPIC, 2, 8, b"\x07not an event")
    empty = FakeMessage(TOPIC, 2, 9, None)
    elsewhere = FakeMessage("other.topic", 0, 3, b"{}")

    ok, rejected = pipeline.decode([good, garbage, empty, elsewhere])

    assert ok == [Decoded(good, Source(TOPIC, 2, 7), plate("ABC123"))]
    assert rejected == [
        Rejected(
            garbage,
            "not JSON, and the topic has no local Avro schema (and SCHEMA_REGISTRY_URL is not set)",
        ),
        Rejected(empty, "empty message (null or zero bytes)"),
        Rejected(elsewhere, "no decoder for topic 'other.topic'"),
    ]


def test_evaluate_pairs_each_event_with_the_rules_it_matches_in_config_order(
    pipeline: Pipeline,
) -> None:
    """An event matching both rules yields two matches in config order; a non-match none."""
    listed_and_unsure = decoded(plate("XYZ789", confidence=0.3), offset=1)
    unlisted = decoded(plate("QQQ000"), offset=2)

    matches = pipeline.evaluate([listed_and_unsure, unlisted], Failures())

    assert matches == [
        Match(listed_and_unsure, rule(pipeline, "watchlist")),
        Match(listed_and_unsure, rule(pipeline, "unsure-read")),
    ]


def test_admit_lets_the_first_of_a_cooldown_through_and_rules_without_one_always(
    pipeline: Pipeline, redis_client: redis.Redis
) -> None:
    """Within a cooldown the second event of a plate is held; other plates and rules pass."""
    first = decoded(plate("ABC123", confidence=0.3), offset=1)
    again = decoded(plate("ABC123", confidence=0.3), offset=2)
    other = decoded(plate("XYZ789"), offset=3)
    failures = Failures()
    matches = pipeline.evaluate([first, again, other], failures)

    admitted = pipeline.admit(matches, pipeline.cooldown_requests(matches, failures))

    watchlist, unsure = rule(pipeline, "watchlist"), rule(pipeline, "unsure-read")
    assert admitted == [
        Match(first, watchlist),
        Match(first, unsure),
        Match(again, unsure),
        Match(other, watchlist),
    ]
    # The cooldown key holds the identity of the event that took it (invariant 3).
    assert redis_client.get("klaxon:cooldown:watchlist:ABC123") == f"{TOPIC}/0/1".encode()


def test_notifications_are_one_per_channel_with_deterministic_ids_and_escaped_variants(
    pipeline: Pipeline,
) -> None:
    """A match renders one Notification per channel; the email carries its HTML variant."""
    event = plate("ABC123", camera="cam-<n>&1")
    match = Match(decoded(event, offset=41, partition=3), rule(pipeline, "watchlist"))

    built = pipeline.notifications([match], Failures(), pipeline._now())

    common: dict[str, Any] = {
        "rule_id": "watchlist",
        "rule_name": "Watchlist plate",
        "priority": "high",
        "message": "Plate ABC123 at cam-<n>&1",
        "subject": "[high] Watchlist plate",
        "event": event,
        "matched_at": MATCHED_AT,
        "source": Source(TOPIC, 3, 41),
    }
    assert built == [
        Notification(
            id=notification_id(TOPIC, 3, 41, "watchlist", "webhook"),
            channel="webhook",
            **common,
        ),
        Notification(
            id=notification_id(TOPIC, 3, 41, "watchlist", "email"),
            channel="email",
            variants={"html": "Plate ABC123 at cam-&lt;n&gt;&amp;1"},
            **common,
        ),
    ]


def test_processing_a_batch_again_yields_the_same_notifications(pipeline: Pipeline) -> None:
    """A replayed batch passes its own cooldown and renders the same ids (invariants 1 and 3)."""
    batch = [message(plate("ABC123"), 5), FakeMessage(TOPIC, 0, 6, b"junk")]

    first = pipeline.process(batch)
    replay = pipeline.process(batch)

    assert [n.id for n in first.notifications] == [
        notification_id(TOPIC, 0, 5, "watchlist", "webhook"),
        notification_id(TOPIC, 0, 5, "watchlist", "email"),
    ]
    assert replay.notifications == first.notifications
    assert (replay.events, replay.matches, replay.triggered) == (1, 1, ["watchlist"])
    assert [r.message.offset() for r in replay.rejected] == [6]
