"""A plate event on Kafka becomes a webhook call, through rules, Redis and a Celery worker."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from tests.conftest import Stack
from tests.support.http_sink import HttpSink
from tests.support.kafka import PlateProducer, committed, plate_event, read_all
from tests.support.queues import drained
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.wait import wait_until

TEMPLATE = "WATCHLIST {plate.normalized_text} at {camera_id} ({plate.region}, {vehicle.color})"


def watchlist_config(
    write_config: Callable[..., Path], sink: HttpSink, topic: str, cooldown: int = 300
) -> Path:
    return write_config(
        {"webhook": {"url": sink.url("/hook"), "headers": {"X-Team": "security"}}},
        [
            {
                "id": "watchlist_plate",
                "name": "Watchlist Plate Detected",
                "priority": "high",
                "source": topic,
                "conditions": [
                    {
                        "field": "plate.normalized_text",
                        "operator": "in_list",
                        "value": ["ABC123", "XYZ789", "MARK01", "MARK02", "MARK03"],
                    }
                ],
                "notify": ["webhook"],
                "rate_limit": {
                    "enabled": True,
                    "cooldown_seconds": cooldown,
                    "dedup_key": "plate.normalized_text",
                },
                "message_template": TEMPLATE,
            }
        ],
    )


def posts_for(sink: HttpSink, plate: str) -> list[Any]:
    return [
        r for r in sink.requests("/hook") if r.json()["event"]["plate"]["normalized_text"] == plate
    ]


def test_watchlist_plate_gives_exactly_one_post_with_rendered_message(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """A registry-framed watchlist plate yields one POST carrying the rendered message."""
    config = watchlist_config(write_config, sink, topic)
    stack.worker(config)
    stack.bridge(config)
    event = plate_event("ABC123", camera="gate-north")
    PlateProducer(kafka, registry.url, topic).send(event)

    (post,) = sink.wait_for(1, "/hook")
    body = post.json()
    assert body["message"] == "WATCHLIST ABC123 at gate-north (US-CA, blue)"
    assert body["rule_id"] == "watchlist_plate"
    assert body["rule_name"] == "Watchlist Plate Detected"
    assert body["priority"] == "high"
    assert body["event"]["event_id"] == event["event_id"]
    assert body["source"] == {"topic": topic, "partition": body["source"]["partition"], "offset": 0}
    assert post.header("Idempotency-Key") == body["id"]
    assert post.header("X-Team") == "security"
    wait_until(
        lambda: committed(kafka, stack.group, topic).get(body["source"]["partition"]) == 1,
        message="the offset committed",
    )


def test_non_listed_plate_is_ignored_and_cooldown_suppresses_until_it_expires(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """Off-list plates give nothing; a repeat in the cooldown gives nothing; after it, one more."""
    config = watchlist_config(write_config, sink, topic, cooldown=2)
    stack.worker(config)
    stack.bridge(config)
    producer = PlateProducer(kafka, registry.url, topic)
    # One camera, so one partition: the marker is processed after everything before it.
    producer.send(
        plate_event("NOPE42"), plate_event("ABC123"), plate_event("ABC123"), plate_event("MARK01")
    )
    sink.wait_for(
        1, "/hook", where=lambda r: r.json()["event"]["plate"]["normalized_text"] == "MARK01"
    )
    wait_until(lambda: drained(redis_client), message="queue drained")
    assert posts_for(sink, "NOPE42") == []
    assert len(posts_for(sink, "ABC123")) == 1

    wait_until(
        lambda: not redis_client.exists("klaxon:cooldown:watchlist_plate:ABC123"),
        timeout=10,
        message="the cooldown to expire",
    )
    producer.send(plate_event("ABC123"))
    sink.wait_for(
        2, "/hook", where=lambda r: r.json()["event"]["plate"]["normalized_text"] == "ABC123"
    )


def test_garbage_between_good_events_goes_to_the_dlq_with_headers(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """An undecodable message is dead-lettered with its origin and the bridge carries on."""
    config = watchlist_config(write_config, sink, topic)
    stack.worker(config)
    bridge = stack.bridge(config)
    producer = PlateProducer(kafka, registry.url, topic)
    producer.send(plate_event("ABC123"), partition=2)
    producer.raw(b"\x00\x00\x00\x00\x07garbage!", key=b"cam-1", partition=2)
    producer.send(plate_event("XYZ789"), partition=2)

    sink.wait_for(2, "/hook")
    assert sorted(
        r.json()["event"]["plate"]["normalized_text"] for r in sink.requests("/hook")
    ) == ["ABC123", "XYZ789"]
    (dead,) = read_all(kafka, f"{topic}.dlq", 1)
    headers = dict(dead.headers())
    assert dead.value() == b"\x00\x00\x00\x00\x07garbage!"
    assert headers["klaxon.original.topic"] == topic.encode()
    assert headers["klaxon.original.partition"] == b"2"
    assert headers["klaxon.original.offset"] == b"1"
    assert b"schema id 7" in headers["klaxon.error"]
    assert f"{topic}[2]@1" in bridge.log()
    wait_until(
        lambda: committed(kafka, stack.group, topic).get(2) == 3, message="offset 3 committed"
    )


def test_bridge_killed_between_enqueue_and_commit_replays_and_sends_once(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """SIGKILL after enqueue, before commit: the restarted bridge replays; the alert comes once."""
    config = watchlist_config(write_config, sink, topic)
    stack.worker(config)
    crashing = stack.bridge(config, KLAXON_FAULT="crash_before_commit")
    PlateProducer(kafka, registry.url, topic).send(plate_event("XYZ789"), partition=1)
    assert crashing.wait(30) == -signal.SIGKILL
    assert committed(kafka, stack.group, topic) == {}

    stack.bridge(config)
    wait_until(lambda: committed(kafka, stack.group, topic).get(1) == 1, message="offset committed")
    wait_until(lambda: drained(redis_client), message="both copies of the task processed")
    posts = sink.wait_for(1, "/hook")
    assert len(posts) == 1
    assert posts[0].json()["event"]["plate"]["normalized_text"] == "XYZ789"
