"""Silences and inhibition on the real Kafka, Redis, bridge, worker and webhook sink."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis
from click.testing import CliRunner
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from alerts.muting.inhibition import FIRING_KEY
from alerts.muting.sweep import catch_up_summaries
from contract.celery_app import make_app
from contract.jsonsafe import JsonObject
from contract.publisher import CeleryPublisher
from contract.settings import Settings
from klaxon.silence_cli import silence
from klaxon.status_cli import collect, render
from rules.config import load_config
from tests.conftest import Stack
from tests.support.fakes import Clock
from tests.support.http_sink import HttpSink
from tests.support.kafka import PlateProducer, create_topics, plate_event
from tests.support.muting import TOPIC, PipelineOnClock
from tests.support.outbox import notification_records
from tests.support.processes import ROOT
from tests.support.queues import drained
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.servers import free_port
from tests.support.wait import wait_until

# The promise under test: a silence takes effect on every bridge and worker within this.
TAKES_EFFECT_SECONDS = 2.0


def own_alert_events(topic: str) -> dict[str, str]:
    """An alert-events topic of this test's own: the default one belongs to test_thresholds."""
    return {"KLAXON_ALERT_EVENTS_TOPIC": f"{topic}.alert-events"}


def klaxon(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "klaxon", *args],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": stack.base_env["REDIS_URL"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_silence_commands_refuse_a_bad_matcher_and_an_unknown_id_naming_them(
    stack: Stack,
) -> None:
    """``silence add`` with a bad matcher and ``silence expire`` of no silence fail clearly."""
    env = {**os.environ, "REDIS_URL": stack.base_env["REDIS_URL"]}
    argv = [sys.executable, "-m", "klaxon", "silence"]
    bad = subprocess.run(
        [*argv, "add", "--match", "camera_id=~gate-(", "--for", "1h"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert 'bad matcher "camera_id=~gate-(": invalid regex: missing ): gate-(' in bad.stderr
    assert "Traceback" not in bad.stderr
    unknown = subprocess.run(
        [*argv, "expire", "nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == 'error: no silence "nope" (see klaxon silence list --all)'


def worker_muted(port: int, rule_id: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        body = answer.read().decode()
    for family in text_string_to_metric_families(body):
        for found in family.samples:
            if found.name == "klaxon_notifications_muted_total" and found.labels == {
                "rule_id": rule_id,
                "status": "silenced",
            }:
                return float(found.value)
    return None


def outbox(client: redis.Redis, status: str) -> list[JsonObject]:
    return [r.data for r in notification_records(client, status)]


def plates(sink: HttpSink) -> list[str]:
    return [r.json()["message"] for r in sink.requests("/hook")]


def let_it_take_effect(since: float) -> None:
    # Not a hope: the guarantee is "within 2 s", so the test gives it exactly that.
    wait_until(lambda: time.monotonic() - since >= TAKES_EFFECT_SECONDS, timeout=10)


def plate_config(write_config: Callable[..., Path], sink: HttpSink, topic: str) -> Path:
    rule = {
        "id": "plate_seen",
        "source": topic,
        "conditions": [{"field": "plate.confidence", "operator": "greater_than", "value": 0}],
        "notify": ["webhook"],
        "message_template": "{plate.normalized_text} at {camera_id}",
    }
    return write_config({"webhook": {"url": sink.url("/hook")}}, [rule])


def test_a_silence_added_while_the_bridge_runs_stops_the_next_match_and_expiring_lets_it_through(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    registry: SchemaRegistryDouble,
) -> None:
    """Within 2 s of ``silence add`` a match is recorded, not sent; after ``expire`` it is sent."""
    config = plate_config(write_config, sink, topic)
    stack.worker(config)
    stack.bridge(config, **own_alert_events(topic))
    producer = PlateProducer(kafka, registry.url, topic)
    producer.send(plate_event("AAA111", camera="gate-1"))
    sink.wait_for(1, "/hook")

    silence_id = klaxon(
        stack,
        "silence",
        "add",
        "--match",
        "rule_id=plate_seen",
        "--match",
        "camera_id=gate-1",
        "--for",
        "2h",
        "--comment",
        "gate repair",
        "--by",
        "ops",
    )
    let_it_take_effect(time.monotonic())
    listed = [json.loads(line) for line in klaxon(stack, "silence", "list", "--json").splitlines()]
    assert [(s["id"], s["state"], s["created_by"]) for s in listed] == [
        (silence_id, "active", "ops")
    ]
    assert json.loads(klaxon(stack, "status", "--json"))["active_silences"] == 1

    producer.send(plate_event("BBB222", camera="gate-1"), plate_event("CCC333", camera="lobby-1"))
    (record,) = wait_until(lambda: outbox(redis_client, "silenced"), message="a silenced record")
    assert record["ref"] == silence_id and record["rule_id"] == "plate_seen"
    assert "gate repair" in record["reason"]
    sink.wait_for(2, "/hook")
    assert plates(sink) == ["AAA111 at gate-1", "CCC333 at lobby-1"]

    assert klaxon(stack, "silence", "expire", silence_id) == f"expired {silence_id}"
    let_it_take_effect(time.monotonic())
    producer.send(plate_event("DDD444", camera="gate-1"))
    sink.wait_for(3, "/hook")
    assert plates(sink)[2] == "DDD444 at gate-1"
    assert len(outbox(redis_client, "silenced")) == 1


def test_a_regex_silence_on_camera_id_is_anchored(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    registry: SchemaRegistryDouble,
) -> None:
    """``camera_id=~gate-.*`` silences gate-1 and gate-22, not north-gate-1 nor lobby-1."""
    config = plate_config(write_config, sink, topic)
    silence_id = klaxon(stack, "silence", "add", "--match", "camera_id=~gate-.*", "--for", "1h")
    stack.worker(config)
    stack.bridge(config, **own_alert_events(topic))
    producer = PlateProducer(kafka, registry.url, topic)
    producer.send(
        *(
            plate_event(f"P{n}", camera=c)
            for n, c in enumerate(["gate-1", "north-gate-1", "gate-22", "lobby-1"])
        )
    )
    wait_until(lambda: len(outbox(redis_client, "silenced")) == 2, message="2 silenced")
    sink.wait_for(2, "/hook")
    assert sorted(plates(sink)) == ["P1 at north-gate-1", "P3 at lobby-1"]
    assert {r["ref"] for r in outbox(redis_client, "silenced")} == {silence_id}


def test_a_silence_added_after_enqueue_stops_the_send_in_the_worker(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    registry: SchemaRegistryDouble,
) -> None:
    """A task already queued when the silence is added is recorded as silenced, not sent."""
    config = plate_config(write_config, sink, topic)
    stack.bridge(config, **own_alert_events(topic))
    producer = PlateProducer(kafka, registry.url, topic)
    producer.send(plate_event("EEE555", camera="gate-9"))
    wait_until(lambda: redis_client.llen("notify.webhook") == 1, message="the task queued")
    silence_id = klaxon(stack, "silence", "add", "--match", "camera_id=gate-9", "--for", "1h")

    port = free_port()
    stack.worker(config, WORKER_METRICS_PORT=str(port))
    (record,) = wait_until(lambda: outbox(redis_client, "silenced"), message="silenced")
    assert record["ref"] == silence_id
    wait_until(lambda: worker_muted(port, "plate_seen") == 1.0, message="the worker counted it")
    producer.send(plate_event("FFF666", camera="gate-8"))
    sink.wait_for(1, "/hook")
    assert plates(sink) == ["FFF666 at gate-8"]


def test_a_firing_controller_offline_inhibits_tank_alerts_on_its_site_only(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """While reef-1's controller is offline its tank alert is inhibited, reef-2's is sent."""
    controllers, readings = f"{topic}-controllers", f"{topic}-readings"
    create_topics(kafka, controllers, readings)
    rules = [
        {
            "id": "controller_offline",
            "source": controllers,
            "state_key": "site_id",
            "conditions": [{"field": "status", "operator": "equals", "value": "offline"}],
            "notify": ["webhook"],
            "message_template": "controller {site_id} offline",
        },
        {
            "id": "tank_temperature_high",
            "source": readings,
            "conditions": [{"field": "temperature", "operator": "greater_than", "value": 30}],
            "notify": ["webhook"],
            "message_template": "{device_id} on {site_id} at {temperature}",
        },
    ]
    inhibit = [
        {
            "source": {"rule_id": "controller_offline"},
            "target": {"rule_id": "=~tank_.*"},
            "equal": ["site_id"],
        }
    ]
    config = write_config({"webhook": {"url": sink.url("/hook")}}, rules, inhibit=inhibit)
    stack.worker(config)
    stack.bridge(config, **own_alert_events(topic))
    producer = Producer({"bootstrap.servers": kafka, "linger.ms": 0})

    def send(to: str, **event: Any) -> None:
        producer.produce(to, json.dumps(event).encode())
        assert producer.flush(10) == 0

    send(controllers, site_id="reef-1", status="offline")
    sink.wait_for(1, "/hook")
    send(readings, site_id="reef-1", device_id="display-tank", temperature=31)
    send(readings, site_id="reef-2", device_id="display-tank", temperature=31)
    (record,) = wait_until(lambda: outbox(redis_client, "inhibited"), message="inhibited")
    assert record["rule_id"] == "tank_temperature_high"
    assert "of rule controller_offline" in record["reason"]
    sink.wait_for(2, "/hook")
    assert plates(sink) == ["controller reef-1 offline", "display-tank on reef-2 at 31"]

    send(controllers, site_id="reef-1", status="online")
    wait_until(lambda: redis_client.hlen(FIRING_KEY) == 0, message="the source resolved")
    send(readings, site_id="reef-1", device_id="display-tank", temperature=32)
    sink.wait_for(3, "/hook")
    assert plates(sink)[2] == "display-tank on reef-1 at 32"


def test_a_mute_interval_holds_matches_and_catch_up_sends_one_summary_to_the_sink(
    stack: Stack,
    sink: HttpSink,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """02:30 on a Sunday in New York (injected clock) holds two matches; at 03:00 the sweep
    sends one summary, delivered once even when two sweepers race."""
    sunday_0230 = dt.datetime(2026, 3, 1, 2, 30, tzinfo=ZoneInfo("America/New_York")).timestamp()
    rule = {
        "id": "tank_temperature_high",
        "source": TOPIC,
        "conditions": [{"field": "temperature", "operator": "greater_than", "value": 30}],
        "notify": ["webhook"],
        "message_template": "{device_id} at {temperature}",
        "mute_time_intervals": ["weekly_maintenance"],
        "catch_up": True,
    }
    intervals = [
        {
            "name": "weekly_maintenance",
            "time_intervals": [
                {
                    "weekdays": ["sunday"],
                    "times": [{"start_time": "02:00", "end_time": "03:00"}],
                    "location": "America/New_York",
                }
            ],
        }
    ]
    path = write_config({"webhook": {"url": sink.url("/hook")}}, [rule], time_intervals=intervals)
    stack.worker(path)
    bridge = PipelineOnClock(redis_client, load_config(path), Clock(sunday_0230))
    publisher = CeleryPublisher(make_app(Settings.from_env(stack.env(path))))
    publisher.publish(bridge.send(device_id="display-tank", temperature=31))
    bridge.clock.now += 600
    publisher.publish(bridge.send(device_id="sump", temperature=33))
    assert len(outbox(redis_client, "muted")) == 2

    end = sunday_0230 + 1800
    (summary,) = catch_up_summaries(redis_client, bridge.rules, end)
    publisher.publish([summary, summary])  # two sweepers that both took it
    bridge.clock.now = end + 60
    publisher.publish(bridge.send(device_id="display-tank", temperature=34))
    posts = sink.wait_for(2, "/hook")
    wait_until(lambda: drained(redis_client), message="queue drained")
    assert sorted(p.json()["transition"] for p in sink.requests("/hook")) == ["catch_up", "match"]
    (delivered,) = [p.json() for p in posts if p.json()["transition"] == "catch_up"]
    assert delivered["message"].splitlines()[0] == (
        "tank_temperature_high: 2 notification(s) held back during weekly_maintenance:"
    )
    assert catch_up_summaries(redis_client, bridge.rules, end + 120) == []


def test_silence_list_shows_active_then_expired_and_status_counts_them(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """``list`` shows a silence while active and, after ``expire``, only with ``--all``."""
    runner = CliRunner()
    env = {"REDIS_URL": redis_url}
    added = runner.invoke(
        silence,
        ["add", "--match", "rule_id=tank_temperature_high", "--match", "device_id=display-tank",
         "--for", "2h", "--comment", "water change", "--by", "ops"],
        env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    silence_id = added.output.strip()
    listed = runner.invoke(silence, ["list"], env=env).output
    assert silence_id in listed and "active" in listed and "water change" in listed
    assert "rule_id=tank_temperature_high device_id=display-tank" in listed
    assert "silences:        1 active" in render(collect(redis_client))

    assert runner.invoke(silence, ["expire", silence_id], env=env).exit_code == 0
    assert runner.invoke(silence, ["list"], env=env).output.strip() == "no silences"
    assert "expired" in runner.invoke(silence, ["list", "--all"], env=env).output
    assert collect(redis_client)["active_silences"] == 0


def test_the_sweep_says_once_that_a_silence_ended_while_its_alert_fires(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """A silenced alert still firing when its silence is expired gets one notice from beat's
    sweep; its resolve is then muted, since its trigger was never heard."""
    rule = {
        "id": "tank_temperature_high",
        "source": topic,
        "state_key": "device_id",
        "conditions": [{"field": "temperature", "operator": "greater_than", "value": 30}],
        "notify": ["webhook"],
        "notify_on_resolve": True,
        "message_template": "{device_id} at {temperature}",
        "resolve_template": "{device_id} resolved",
    }
    config = write_config({"webhook": {"url": sink.url("/hook")}}, [rule])
    silence_id = klaxon(stack, "silence", "add", "--match", "device_id=display-tank", "--for", "1h")
    stack.worker(config, queues="notify.webhook,klaxon.sweep")
    stack.bridge(config, **own_alert_events(topic))
    stack.process(
        config, "beat", "--interval", "1", "--schedule", str(stack.log_dir / "beat-schedule")
    )
    producer = Producer({"bootstrap.servers": kafka, "linger.ms": 0})

    def send(**event: Any) -> None:
        producer.produce(topic, json.dumps(event).encode(), key=event["device_id"].encode())
        assert producer.flush(10) == 0

    send(device_id="display-tank", temperature=31)
    send(device_id="sump", temperature=31)
    sink.wait_for(1, "/hook")
    wait_until(lambda: redis_client.hlen("klaxon:alerts:active") == 2, message="2 alerts firing")
    assert [r["transition"] for r in outbox(redis_client, "silenced")] == ["trigger"]

    klaxon(stack, "silence", "expire", silence_id)
    (notice,) = sink.wait_for(1, "/hook", where=lambda r: r.json()["transition"] == "silence_ended")
    assert notice.json()["message"] == (
        f"Silence {silence_id} ended; still firing: display-tank at 31"
    )

    send(device_id="display-tank", temperature=20)
    wait_until(lambda: len(outbox(redis_client, "silenced")) == 2, message="the resolve muted")
    assert outbox(redis_client, "silenced")[1]["transition"] == "resolve"
    assert [r.json()["transition"] for r in sink.requests("/hook")] == ["trigger", "silence_ended"]
