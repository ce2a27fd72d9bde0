"""Operating the bridge: graceful shutdown in the middle of a stream, and hot reload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from contract.reloads import ReloadResult, last_reload
from tests.conftest import Stack
from tests.support import servers, yamlfile
from tests.support.http_sink import HttpSink
from tests.support.kafka import PlateProducer, committed, plate_event
from tests.support.queues import drained
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


def delivered_offsets(sink: HttpSink) -> dict[int, list[int]]:
    """The source offsets of the delivered notifications, sorted, per partition."""
    found: dict[int, list[int]] = defaultdict(list)
    for request in sink.requests("/hook"):
        source = request.json()["source"]
        found[source["partition"]].append(source["offset"])
    return {partition: sorted(offsets) for partition, offsets in found.items()}


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
    first.signal(signal.SIGTERM)
    for plate in plates[150:]:
        producer.send(plate_event(plate, camera=f"cam-{hash(plate) % 7}"))
    assert first.wait(60) == 0
    assert "finishing the batch in hand" in first.log()
    done_before_restart = committed(kafka, stack.group, topic)
    assert sum(done_before_restart.values()) > 0
    # What the first bridge committed is exactly what it enqueued: per partition, the
    # offsets whose notifications the worker delivered are 0 .. committed - 1.
    wait_until(
        lambda: len(sink.requests("/hook")) >= sum(done_before_restart.values()),
        timeout=60,
        message="the first bridge's notifications delivered",
    )
    wait_until(lambda: drained(redis_client), message="queue drained")
    assert delivered_offsets(sink) == {
        p: list(range(n)) for p, n in done_before_restart.items() if n > 0
    }

    stack.bridge(config)
    wait_until(
        lambda: sum(committed(kafka, stack.group, topic).values()) == 300,
        timeout=60,
        message="all 300 offsets committed",
    )
    wait_until(lambda: drained(redis_client), message="queue drained")
    received = plates_at(sink)
    assert sorted(received) == plates  # every plate once: none lost, none twice


def recorded_reload(client: redis.Redis, ok: bool) -> ReloadResult:
    """The bridge's last recorded reload once it has the outcome ``ok`` (it is recorded just
    after the log line the test waits for)."""
    wait_until(
        lambda: (found := last_reload(client)) is not None and found.ok is ok,
        timeout=20,
        message=f"a reload recorded with ok={ok}",
    )
    found = last_reload(client)
    assert found is not None
    return found


def test_an_invalid_rules_file_keeps_the_old_rules_and_a_valid_one_replaces_them(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """A broken rules file written over a running bridge changes nothing; a good one takes over.

    Each outcome is recorded in Redis for the console's rules page."""
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}}, [prefix_rule(topic, "old", "OLD")]
    )
    stack.worker(config)
    bridge = stack.bridge(config)
    producer = PlateProducer(kafka, registry.url, topic)

    good = yaml.safe_load(config.read_text())
    broken = {**good, "rules": [{**good["rules"][0], "cooldown_second": 5}]}
    config.write_text(yamlfile.dump(broken))
    bridge.wait_for_log("reload refused, keeping the last good rules", timeout=20)
    assert "rules[0].cooldown_second: unknown key" in bridge.log()
    refused = recorded_reload(redis_client, ok=False)
    assert refused.path == str(config)
    assert "rules[0].cooldown_second: unknown key" in refused.error and refused.bridge
    producer.send(plate_event("OLD001"))
    sink.wait_for(1, "/hook")
    assert bridge.alive

    new = {**good, "rules": [prefix_rule(topic, "new", "NEW")]}
    config.write_text(yamlfile.dump(new))
    bridge.wait_for_log("rules reloaded from", timeout=20)
    reloaded = recorded_reload(redis_client, ok=True)
    assert (reloaded.rules, reloaded.error) == (1, "")
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
    redis_client: redis.Redis,
) -> None:
    """SIGHUP reloads the rules file at once: the new rule fires and the old one no longer does."""
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}}, [prefix_rule(topic, "old", "OLD")]
    )
    stack.worker(config)
    bridge = stack.bridge(config)
    # The file watch compares the file's content, so with the content unchanged only the
    # signal can cause this reload.
    bridge.signal(signal.SIGHUP)
    bridge.wait_for_log("rules reloaded from", timeout=20)
    assert bridge.log().count("rules reloaded from") == 1

    good = yaml.safe_load(config.read_text())
    config.write_text(yamlfile.dump({**good, "rules": [prefix_rule(topic, "new", "NEW")]}))
    bridge.signal(signal.SIGHUP)
    wait_until(
        lambda: bridge.log().count("rules reloaded from") >= 2,
        timeout=20,
        message=lambda: f"a second reload in the bridge's log:\n{bridge.log()[-2000:]}",
    )
    # One camera, so one partition: OLD004 is evaluated before NEW002 is.
    PlateProducer(kafka, registry.url, topic).send(plate_event("OLD004"), plate_event("NEW002"))
    sink.wait_for(1, "/hook", where=lambda r: r.json()["message"] == "NEW002")
    wait_until(lambda: drained(redis_client), message="queue drained")
    assert [(r.json()["rule_id"], r.json()["message"]) for r in sink.requests("/hook")] == [
        ("new", "NEW002")
    ]


SEED_METRICS = {
    "alert_engine_events_consumed": "counter",
    "alert_engine_rules_matched": "counter",
    "alert_engine_rule_evaluation_time_seconds": "histogram",
    "alert_engine_alerts_triggered": "counter",
    "alert_engine_alerts_rate_limited": "counter",
    "alert_engine_notifications_sent": "counter",
    "alert_engine_notifications_failed": "counter",
    "alert_engine_notification_send_time_seconds": "histogram",
}


def test_a_running_bridge_is_ready_serves_the_seed_metrics_and_reports_status(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """/readyz answers 200 once partitions are assigned; /metrics has the seed's names."""
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}}, [prefix_rule(topic, "met", "MET")]
    )
    port = servers.free_port()
    stack.worker(config)
    stack.bridge(config, METRICS_PORT=str(port))
    PlateProducer(kafka, registry.url, topic).send(plate_event("MET001"))
    sink.wait_for(1, "/hook")
    base = f"http://127.0.0.1:{port}"
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    wait_until(
        lambda: requests.get(f"{base}/readyz", timeout=5).status_code == 200, message="/readyz 200"
    )

    def families() -> dict[str, Any]:
        text = requests.get(f"{base}/metrics", timeout=5).text
        return {f.name: f for f in text_string_to_metric_families(text)}

    def counted() -> dict[str, Any] | None:
        found = families()
        return found if _consumed(found) >= 1 else None

    found = wait_until(counted, message="an event counted")
    for name, kind in SEED_METRICS.items():
        assert name in found and found[name].type == kind, name
    matched = [s for s in found["alert_engine_rules_matched"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in matched] == [
        ({"rule_id": "met", "priority": "medium"}, 1.0)
    ]

    def status() -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "klaxon", "status", "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, "REDIS_URL": stack.base_env["REDIS_URL"]},
            timeout=60,
            check=True,
        )
        return dict(json.loads(result.stdout))

    def reported() -> dict[str, Any] | None:
        report = status()
        return report if report.get("events") else None

    report = wait_until(reported, timeout=30, message="klaxon status to show the bridge's events")
    assert report["events"] >= 1 and report["bridges"][0]["uptime_seconds"] > 0


def _consumed(found: dict[str, Any]) -> float:
    family = found.get("alert_engine_events_consumed")
    return sum(s.value for s in family.samples if s.name.endswith("_total")) if family else 0.0
