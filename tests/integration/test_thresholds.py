"""Threshold alerts on device readings: trigger, resolve, history, across restarts and bridges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from contract.schema_registry import SchemaRegistry
from ingest.decoding import Decoder
from tests.conftest import Stack
from tests.support.databases import sqlite_url
from tests.support.history import record_outbox
from tests.support.http_sink import HttpSink
from tests.support.kafka import create_topics, read_all
from tests.support.processes import ROOT
from tests.support.queues import drained
from tests.support.readings import READING_SCHEMA_PATH, ReadingProducer, reading
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.wait import wait_until


def threshold_config(
    write_config: Callable[..., Path], sink: HttpSink, topic: str, **rule: Any
) -> Path:
    base = {
        "id": "temp_high",
        "type": "threshold",
        "source": topic,
        "metric": "temperature",
        "operator": ">",
        "threshold": 82.0,
        "notify": ["webhook"],
        "notify_on_resolve": True,
        "priority": "high",
        "message_template": "{device_id} temperature {current_value} > {threshold}",
        "resolve_template": "{device_id} temperature back to {current_value} after {duration}",
    }
    base.update(rule)
    return write_config(
        {"webhook": {"url": sink.url("/hook")}},
        [base],
        sources={topic: {"format": "avro", "schema": str(READING_SCHEMA_PATH)}},
    )


def transitions(sink: HttpSink, device: str | None = None) -> list[str]:
    return [
        r.json()["transition"]
        for r in sink.requests("/hook")
        if device is None or r.json()["event"]["device_id"] == device
    ]


def klaxon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klaxon", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_seed_scenario_triggers_once_and_resolves_with_the_resolution_value(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    registry: SchemaRegistryDouble,
    tmp_path: Path,
) -> None:
    """25.5, 82.5, 83.0, 81.0 against > 82.0: one trigger, nothing on 83.0, a resolve at 81.0."""
    # A topic of this test's own: read_all counts its messages, which no other test adds to.
    events_topic = f"{topic}.alert-events"
    create_topics(kafka, events_topic)
    config = threshold_config(write_config, sink, topic)
    stack.worker(config)
    stack.bridge(config, KLAXON_ALERT_EVENTS_TOPIC=events_topic)
    producer = ReadingProducer(kafka, topic)
    producer.send(
        reading("tank-1", "temperature", 25.5, 0),
        reading("tank-1", "temperature", 82.5, 60),
        reading("tank-1", "temperature", 83.0, 120),
    )
    (trigger,) = sink.wait_for(1, "/hook")
    assert trigger.json()["transition"] == "trigger"
    assert trigger.json()["message"] == "tank-1 temperature 82.5 > 82.0"

    producer.send(reading("tank-1", "temperature", 81.0, 300))
    posts = sink.wait_for(2, "/hook")
    assert transitions(sink) == ["trigger", "resolve"]
    assert posts[1].json()["message"] == "tank-1 temperature back to 81.0 after 4m"

    database = sqlite_url(tmp_path)
    record_outbox(redis_client, database)
    history = klaxon(
        "alerts",
        "history",
        "--json",
        env={"REDIS_URL": stack.base_env["REDIS_URL"], "KLAXON_DATABASE_URL": database},
    )
    assert history.returncode == 0, history.stderr
    (event,) = [json.loads(line) for line in history.stdout.splitlines()]
    assert event["rule_id"] == "temp_high" and event["device_id"] == "tank-1"
    assert event["current_value"] == 82.5 and event["threshold_value"] == 82.0
    assert event["operator"] == ">" and event["metric"] == "temperature"
    assert event["is_resolved"] is True and event["resolution_value"] == 81.0
    assert event["resolved_at"] - event["triggered_at"] == 240

    # The stack sets SCHEMA_REGISTRY_URL, so alert events carry registry framing.
    decoder = Decoder(events_topic, "registry", registry=SchemaRegistry(registry.url))
    published = [decoder.decode(m.value()) for m in read_all(kafka, events_topic, 2)]
    mine = [p for p in published if p["id"] == event["id"]]
    assert [p["transition"] for p in mine] == ["trigger", "resolve"]
    assert mine[1]["is_resolved"] is True and mine[1]["resolution_value"] == 81.0
    wait_until(lambda: drained(redis_client), message="queue drained")
    assert transitions(sink) == ["trigger", "resolve"]


def test_for_seconds_hysteresis_and_json_and_metadata_values(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """Pending 60 s before firing; resolving needs <= 80; values from json_value and metadata."""
    config = threshold_config(write_config, sink, topic, for_seconds=60, resolve_threshold=80.0)
    stack.worker(config)
    stack.bridge(config)
    producer = ReadingProducer(kafka, topic)
    producer.send(
        reading("tank-2", "probe", None, 0, json_value={"temperature": 83.0}),
        reading("tank-2", "probe", None, 30, metadata={"temperature": 84.0}),
        reading("tank-2", "ph", 8.1, 45),  # no temperature at all: not an evaluation
        reading("tank-2", "temperature", 85.0, 60),
    )
    (trigger,) = sink.wait_for(1, "/hook")
    assert trigger.json()["alert"]["current_value"] == 85.0
    producer.send(
        reading("tank-2", "temperature", 81.0, 90),  # below 82, above 80: still firing
        reading("tank-2", "temperature", 79.5, 120),
    )
    sink.wait_for(2, "/hook")
    wait_until(lambda: drained(redis_client), message="queue drained")
    assert transitions(sink) == ["trigger", "resolve"]
    assert sink.requests("/hook")[1].json()["alert"]["current_value"] == 79.5


def test_a_restarted_bridge_keeps_the_firing_state(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """After a restart of the bridge while firing, more high readings do not trigger again."""
    config = threshold_config(write_config, sink, topic)
    stack.worker(config)
    first = stack.bridge(config)
    producer = ReadingProducer(kafka, topic)
    producer.send(reading("tank-3", "temperature", 90.0, 0))
    sink.wait_for(1, "/hook")
    first.stop()
    stack.bridge(config)
    producer.send(
        reading("tank-3", "temperature", 91.0, 60), reading("tank-3", "temperature", 70.0, 120)
    )
    sink.wait_for(2, "/hook")
    wait_until(lambda: drained(redis_client), message="queue drained")
    assert transitions(sink) == ["trigger", "resolve"]


def test_two_bridges_in_one_group_never_trigger_twice(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """Two bridges share a 4-partition topic; each of 8 devices triggers and resolves once."""
    config = threshold_config(write_config, sink, topic)
    stack.worker(config)
    stack.bridge(config)
    stack.bridge(config)
    devices = [f"tank-{uuid.uuid4().hex[:4]}" for _ in range(8)]
    producer = ReadingProducer(kafka, topic)
    for step, value in enumerate([70.0, 90.0, 91.0, 92.0, 70.0, 71.0]):
        producer.send(*(reading(d, "temperature", value, step * 10) for d in devices))
    sink.wait_for(16, "/hook", timeout=60)
    wait_until(lambda: drained(redis_client), message="queue drained")
    for device in devices:
        assert transitions(sink, device) == ["trigger", "resolve"], device


def test_no_data_alert_is_raised_by_the_sweep_and_resolved_by_the_next_reading(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """A device silent past no_data_seconds gets a no-data alert from beat; a reading ends it."""
    config = threshold_config(
        write_config,
        sink,
        topic,
        no_data_seconds=1,
        no_data_template="no data from {device_id} for {silence}",
    )
    stack.worker(config, queues="notify.webhook,klaxon.sweep")
    stack.bridge(config)
    beat = stack.process(
        config, "beat", "--interval", "1", "--schedule", str(stack.log_dir / "beat-schedule")
    )
    producer = ReadingProducer(kafka, topic)
    producer.send(reading("tank-4", "temperature", 20.0, 0))

    def kinds() -> list[str]:
        return transitions(sink, "tank-4")

    wait_until(
        lambda: "no_data" in kinds(),
        timeout=30,
        message=lambda: f"no_data, got {kinds()}\n{beat.log()[-1500:]}",
    )
    (silent,) = [r for r in sink.requests("/hook") if r.json()["transition"] == "no_data"]
    assert silent.json()["message"].startswith("no data from tank-4 for ")
    producer.send(reading("tank-4", "temperature", 21.0, 5))
    wait_until(
        lambda: "no_data_resolve" in kinds(), timeout=30, message=lambda: f"resolve, got {kinds()}"
    )
    assert kinds().count("no_data") == 1
