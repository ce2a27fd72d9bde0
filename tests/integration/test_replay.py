"""``klaxon replay`` against a real broker: the live bridge's counts, and no trace left behind."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import requests
from confluent_kafka import Producer

from contract import encoding
from contract.schema_registry import SchemaRegistry
from tests.conftest import Stack
from tests.support import servers
from tests.support.kafka import PLATE_SCHEMA, PLATE_SCHEMA_RAW, committed, plate_event
from tests.support.processes import ROOT
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.wait import wait_until

# 10,000 events, as the issue asks; the replay reads them all in-process.
EVENTS = 10_000
LISTED = [f"HOT{n:03d}" for n in range(40)]


def produce(kafka: str, registry: SchemaRegistryDouble, topic: str, count: int) -> None:
    """``count`` registry-framed plate events: listed plates, 7GX partials and noise."""
    schema_id = SchemaRegistry(registry.url).register(f"{topic}-value", PLATE_SCHEMA_RAW)
    producer = Producer({"bootstrap.servers": kafka, "linger.ms": 20})
    pick = random.Random(14)
    for n in range(count):
        roll = pick.random()
        if roll < 0.05:
            plate = pick.choice(LISTED)
        elif roll < 0.10:
            plate = f"7GX{pick.randrange(1000):03d}"
        else:
            plate = f"N{n:06d}"
        event = plate_event(plate, camera=f"cam-{n % 7}")
        value = encoding.registry_framed(event, PLATE_SCHEMA, schema_id)
        producer.produce(topic, value=value, key=event["camera_id"].encode())
        if n % 1000 == 999:
            producer.flush(30)
    assert producer.flush(30) == 0


def new_rules(topic: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A hotlist rule with a long per-plate cooldown and a partial-plate rule without one."""
    notifications: dict[str, Any] = {
        "webhook": {"url": "http://127.0.0.1:9/hook"},
        "slack": {"webhook_url": "http://127.0.0.1:9/slack"},
    }
    rules: list[dict[str, Any]] = [
        {
            "id": "hot",
            "source": topic,
            "conditions": [
                {"field": "plate.normalized_text", "operator": "in_list", "value": LISTED}
            ],
            "notify": ["webhook", "slack"],
            "rate_limit": {"cooldown_seconds": 86400, "dedup_key": "plate.normalized_text"},
            "message_template": "hot plate {plate.normalized_text} at {camera_id}",
        },
        {
            "id": "partial",
            "source": topic,
            "conditions": [
                {"field": "plate.normalized_text", "operator": "regex", "value": "^7GX"}
            ],
            "notify": ["webhook"],
            "message_template": "partial {plate.normalized_text}",
        },
    ]
    return notifications, rules


def queued(client: redis.Redis, queue: str) -> Counter[str]:
    """Tasks on a Celery queue by rule id (protocol 2: the payload is the first argument)."""
    counts: Counter[str] = Counter()
    for raw in client.lrange(queue, 0, -1):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        counts[str(body[0][0]["rule_id"])] += 1
    return counts


def matched(metrics_url: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in requests.get(metrics_url, timeout=10).text.splitlines():
        if line.startswith("alert_engine_rules_matched_total{"):
            rule = line.split('rule_id="')[1].split('"')[0]
            found[rule] = int(float(line.rsplit(" ", 1)[1]))
    return found


def replay(stack: Stack, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "RULES_"))}
    return subprocess.run(
        [sys.executable, "-m", "klaxon", "replay", "--rules", str(config), *args],
        cwd=ROOT,
        env={**env, **stack.env(config)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def snapshot(client: redis.Redis) -> dict[object, object]:
    """Every key with its serialized value (DUMP): equal snapshots, equal Redis."""
    return {key: client.dump(key) for key in sorted(client.keys("*"))}


def test_replay_reports_what_the_live_bridge_did_with_the_same_rules(
    stack: Stack,
    kafka: str,
    topic: str,
    registry: SchemaRegistryDouble,
    redis_client: redis.Redis,
    write_config: Callable[..., Path],
) -> None:
    """Over 10,000 events, replay counts the matches and notifications the bridge made."""
    produce(kafka, registry, topic, EVENTS)
    config = write_config(*new_rules(topic))
    port = servers.free_port()
    stack.bridge(config, METRICS_PORT=str(port))
    wait_until(
        lambda: sum(committed(kafka, stack.group, topic).values()) == EVENTS,
        timeout=300,
        message="the bridge to commit every event",
    )
    live_matches = matched(f"http://127.0.0.1:{port}/metrics")
    live = {
        "webhook": queued(redis_client, "notify.webhook"),
        "slack": queued(redis_client, "notify.slack"),
    }
    done = replay(stack, config, "--topic", topic, "--from", "0", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["events"] == EVENTS
    assert "events/s" in done.stderr  # progress on stderr
    by_rule = {r["rule"]: r for r in report["rules"]}
    assert live_matches["hot"] > len(LISTED)  # the cooldown had something to hold
    for rule in ("hot", "partial"):
        assert by_rule[rule]["matches"] == live_matches[rule], rule
        for channel, counts in live.items():
            assert by_rule[rule]["notifications"].get(channel, 0) == counts[rule], (rule, channel)
    assert by_rule["hot"]["notifications"]["webhook"] <= len(LISTED)
    assert by_rule["hot"]["samples"][0].startswith("hot plate HOT")


def test_a_replay_leaves_redis_and_the_consumer_group_as_they_were(
    stack: Stack,
    kafka: str,
    topic: str,
    registry: SchemaRegistryDouble,
    redis_client: redis.Redis,
    write_config: Callable[..., Path],
) -> None:
    """After a replay, every Redis key and the bridges' committed offsets are unchanged."""
    produce(kafka, registry, topic, 300)
    config = write_config(*new_rules(topic))
    bridge = stack.bridge(config)
    wait_until(
        lambda: sum(committed(kafka, stack.group, topic).values()) == 300,
        timeout=120,
        message="the bridge to commit every event",
    )
    bridge.kill()
    offsets, keys = committed(kafka, stack.group, topic), snapshot(redis_client)
    assert keys  # the bridge left cooldowns and queued tasks to compare against
    done = replay(stack, config, "--topic", topic, "--from", "1h", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events"] == 300, done.stdout + done.stderr
    assert snapshot(redis_client) == keys
    assert committed(kafka, stack.group, topic) == offsets
