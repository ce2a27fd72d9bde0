"""Operating the bridge: graceful shutdown in the middle of a stream, and hot reload."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import yaml

from tests.conftest import Stack
from tests.support.http_sink import HttpSink
from tests.support.kafka import PlateProducer, committed, plate_event
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.wait import wait_until


def prefix_rule(topic: str, rule_id: str, prefix: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "source": topic,
        "conditions": [
            {"field": "plate.normalized_text", "operator": "regex", "value": f"^{prefix}"}
        ],
        "notify": ["webhook"],
        "message_template": "{plate.normalized_text}",
    }


def plates_at(sink: HttpSink) -> list[str]:
    return [r.json()["message"] for r in sink.requests("/hook")]


def drained(client: redis.Redis) -> bool:
    return client.llen("notify.webhook") == 0 and client.hlen("unacked") == 0


def test_sigterm_mid_stream_commits_what_it_enqueued_and_loses_nothing(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """SIGTERM while 300 events stream in: the bridge stops in time, a restart finishes the rest."""
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}}, [prefix_rule(topic, "sig", "SIG")]
    )
    stack.worker(config)
    first = stack.bridge(config)
    producer = PlateProducer(kafka, registry.url, topic)
    plates = [f"SIG{i:04d}" for i in range(300)]
    for plate in plates[:150]:
        producer.send(plate_event(plate, camera=f"cam-{hash(plate) % 7}"))
    sink.wait_for(1, "/hook")
    started = time.monotonic()
    first.signal(signal.SIGTERM)
    for plate in plates[150:]:
        producer.send(plate_event(plate, camera=f"cam-{hash(plate) % 7}"))
    assert first.wait(10) == 0
    assert time.monotonic() - started < 10
    assert "finishing the batch in hand" in first.log()
    done_before_restart = sum(committed(kafka, stack.group, topic).values())
    assert done_before_restart > 0

    stack.bridge(config)
    wait_until(
        lambda: sum(committed(kafka, stack.group, topic).values()) == 300,
        timeout=60,
        message="all 300 offsets committed",
    )
    wait_until(lambda: drained(redis_client), message="queue drained")
    received = plates_at(sink)
    assert sorted(received) == plates  # every plate once: none lost, none twice


def test_an_invalid_rules_file_keeps_the_old_rules_and_a_valid_one_replaces_them(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """A broken rules file written over a running bridge changes nothing; a good one takes over."""
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}}, [prefix_rule(topic, "old", "OLD")]
    )
    stack.worker(config)
    bridge = stack.bridge(config)
    producer = PlateProducer(kafka, registry.url, topic)

    good = yaml.safe_load(config.read_text())
    broken = {**good, "rules": [{**good["rules"][0], "cooldown_second": 5}]}
    config.write_text(yaml.safe_dump(broken))
    bridge.wait_for_log("reload refused, keeping the last good rules", timeout=20)
    assert "rules[0].cooldown_second: unknown key" in bridge.log()
    producer.send(plate_event("OLD001"))
    sink.wait_for(1, "/hook")
    assert bridge.alive

    new = {**good, "rules": [prefix_rule(topic, "new", "NEW")]}
    config.write_text(yaml.safe_dump(new))
    bridge.wait_for_log("rules reloaded from", timeout=20)
    producer.send(plate_event("OLD002"), plate_event("NEW001"))
    sink.wait_for(1, "/hook", where=lambda r: r.json()["message"] == "NEW001")
    assert "OLD002" not in plates_at(sink)
    assert [r.json()["rule_id"] for r in sink.requests("/hook")] == ["old", "new"]


def test_sighup_reloads_the_rules(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """SIGHUP asks for a reload at once, whatever the file watch has seen."""
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}}, [prefix_rule(topic, "old", "OLD")]
    )
    stack.worker(config)
    bridge = stack.bridge(config)
    bridge.signal(signal.SIGHUP)
    bridge.wait_for_log("rules reloaded from", timeout=20)
    PlateProducer(kafka, registry.url, topic).send(plate_event("OLD003"))
    sink.wait_for(1, "/hook")
