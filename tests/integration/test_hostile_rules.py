"""A running bridge against hostile rules: a backtracking regex, a YAML alias bomb."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Stack
from tests.integration.test_operations import plates_at, prefix_rule
from tests.support import servers
from tests.support.http_sink import HttpSink
from tests.support.kafka import PlateProducer, plate_event
from tests.support.processes import ROOT
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.wait import wait_until

BOMB = (ROOT / "tests" / "testdata" / "config" / "yaml_alias_bomb.yaml").read_text()


def healthy(port: int) -> bool:
    return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200


def reloads(port: int, result: str) -> float:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        if family.name == "klaxon_config_reloads":
            return sum(
                s.value
                for s in family.samples
                if s.name.endswith("_total") and s.labels.get("result") == result
            )
    return 0.0


def test_a_backtracking_regex_neither_stalls_the_batch_nor_the_health_check(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """(a+)+$ meets forty a's and a b: every good event of the batch arrives, /healthz answers."""
    evil = {
        **prefix_rule(topic, "evil", ""),
        "conditions": [{"field": "plate.normalized_text", "operator": "regex", "value": "(a+)+$"}],
    }
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}}, [prefix_rule(topic, "good", "GOOD"), evil]
    )
    port = servers.free_port()
    stack.worker(config)
    stack.bridge(config, METRICS_PORT=str(port))
    producer = PlateProducer(kafka, registry.url, topic)
    # One partition, in this order: the good events sit on both sides of the hostile one.
    plates = ["GOOD001", "a" * 40 + "b", "GOOD002", "a" * 10_000 + "b", "GOOD003", "aaaa"]
    producer.send(*(plate_event(plate) for plate in plates), partition=0)
    sink.wait_for(4, "/hook")
    assert sorted(plates_at(sink)) == ["GOOD001", "GOOD002", "GOOD003", "aaaa"]
    assert [r.json()["rule_id"] for r in sink.requests("/hook")].count("evil") == 1
    assert healthy(port)


def test_an_alias_bomb_written_over_a_running_bridge_keeps_the_old_rules(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """A billion laughs as the new rules file is refused at once; the old rules keep firing."""
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}}, [prefix_rule(topic, "old", "OLD")]
    )
    port = servers.free_port()
    stack.worker(config)
    bridge = stack.bridge(config, METRICS_PORT=str(port))

    config.write_text(config.read_text() + BOMB)
    bridge.wait_for_log("reload refused, keeping the last good rules", timeout=20)
    assert 'YAML anchor "&l0" is not allowed in a config file' in bridge.log()
    wait_until(lambda: reloads(port, "failure") == 1, message="the failed reload counted")
    assert healthy(port)

    PlateProducer(kafka, registry.url, topic).send(plate_event("OLD001"))
    sink.wait_for(1, "/hook")
    assert plates_at(sink) == ["OLD001"]
    assert bridge.alive and healthy(port)
    assert reloads(port, "success") == 0
