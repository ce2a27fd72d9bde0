"""Dependencies going away: the bridge waits and retries, it never skips an event."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import redis

from tests.conftest import Stack
from tests.support import servers
from tests.support.http_sink import HttpSink
from tests.support.kafka import PlateProducer, committed, plate_event, read_all
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.wait import wait_until


def test_redis_down_stops_commits_and_the_event_is_delivered_when_it_returns(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """With Redis gone the batch is retried, uncommitted; once Redis is back it is delivered."""
    port = servers.free_port()
    url = f"redis://127.0.0.1:{port}/0"
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}},
        [
            {
                "id": "r",
                "source": topic,
                "notify": ["webhook"],
                "message_template": "{camera_id}",
                "conditions": [{"field": "camera_id", "operator": "equals", "value": "cam-9"}],
            }
        ],
    )
    with servers.redis_server(port):
        stack.worker(config, REDIS_URL=url)
        bridge = stack.bridge(config, REDIS_URL=url)
    # Redis is gone now.
    PlateProducer(kafka, registry.url, topic).send(
        plate_event("ANY123", camera="cam-9"), partition=0
    )
    bridge.wait_for_log("not enqueued, retrying", timeout=30)
    assert committed(kafka, stack.group, topic) == {}
    assert bridge.alive

    with servers.redis_server(port):
        (post,) = sink.wait_for(1, "/hook", timeout=60)
        assert post.json()["message"] == "cam-9"
        wait_until(
            lambda: committed(kafka, stack.group, topic).get(0) == 1,
            timeout=30,
            message="the offset committed after Redis returned",
        )
        assert redis.Redis.from_url(url).exists(f"klaxon:sent:{post.json()['id']}")


def camera_rule(topic: str, sink: HttpSink) -> tuple[dict[str, object], list[dict[str, object]]]:
    notifications: dict[str, object] = {"webhook": {"url": sink.url("/hook")}}
    rules: list[dict[str, object]] = [
        {
            "id": "r",
            "source": topic,
            "notify": ["webhook"],
            "message_template": "{camera_id} #{n}",
            "conditions": [{"field": "camera_id", "operator": "equals", "value": "cam-9"}],
        }
    ]
    return notifications, rules


def test_poison_json_between_good_events_is_dead_lettered_and_the_bridge_lives_on(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """5,000 brackets, a field 600 deep and a NaN each go to the DLQ; the good ones are sent."""
    notifications, rules = camera_rule(topic, sink)
    config = write_config(notifications, rules, sources={topic: {"format": "json"}})
    stack.worker(config)
    bridge = stack.bridge(config)
    brackets = b"[" * 5000 + b"]" * 5000
    # A small matching event (~3.9 kB) with one field nested 600 deep.
    deep = b'{"camera_id":"cam-9","n":0,"deep":' + b'{"a":' * 599 + b"1" + b"}" * 600
    nan = b'{"camera_id":"cam-9","n":0,"confidence":NaN}'
    producer = PlateProducer(kafka, registry.url, topic)
    for n, poison in enumerate([brackets, deep, nan], start=1):
        producer.raw(json.dumps({"camera_id": "cam-9", "n": n}).encode(), partition=1)
        producer.raw(poison, partition=1)
    producer.raw(json.dumps({"camera_id": "cam-9", "n": 4}).encode(), partition=1)

    posts = sink.wait_for(4, "/hook")
    assert sorted(p.json()["message"] for p in posts) == [f"cam-9 #{n}" for n in (1, 2, 3, 4)]
    dead = read_all(kafka, f"{topic}.dlq", 3)
    reasons = {
        int(dict(m.headers())["klaxon.original.offset"]): dict(m.headers())["klaxon.error"]
        for m in dead
    }
    assert reasons[1].startswith(b"nesting deeper than max_depth (64)")
    assert reasons[3].startswith(b"nesting deeper than max_depth (64) at deep.a.a")
    assert reasons[5].startswith(b"invalid JSON: NaN at char")
    assert sorted(m.value() for m in dead) == sorted([brackets, deep, nan])
    wait_until(
        lambda: committed(kafka, stack.group, topic).get(1) == 7, message="offset 7 committed"
    )
    assert bridge.alive
    assert "Traceback" not in bridge.log()


def test_a_schema_registry_error_is_retried_with_backoff_capped_at_five_seconds(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """Lookups answering 500 hold the batch: retries at 0.5, 1, 2, 4, 5, 5 s; then delivered."""
    notifications, rules = camera_rule(topic, sink)
    config = write_config(notifications, rules)
    stack.worker(config)
    producer = PlateProducer(kafka, registry.url, topic)
    registry.fail_lookups(producer.schema_id, 500)
    try:
        bridge = stack.bridge(config)
        producer.send(plate_event("ANY123", camera="cam-9"), partition=0)

        def delays() -> list[float]:
            return [float(d) for d in re.findall(r"retrying in ([0-9.]+)s", bridge.log())]

        wait_until(lambda: len(delays()) >= 6, timeout=60, message="six retries logged")
        assert delays()[:6] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
        assert f"answered 500 for schema {producer.schema_id}" in bridge.log()
        assert committed(kafka, stack.group, topic) == {}
    finally:
        registry.heal(producer.schema_id)
    (post,) = sink.wait_for(1, "/hook", timeout=60)
    assert post.json()["message"] == "cam-9 #<missing n>"
    assert max(delays()) == 5.0
