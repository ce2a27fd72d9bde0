"""The klaxon command as a user meets it: check, bridge flags, start-up errors, logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import redis

from tests.conftest import Stack
from tests.support import servers
from tests.support.http_sink import HttpSink
from tests.support.kafka import PlateProducer, committed, plate_event
from tests.support.processes import ROOT
from tests.support.schema_registry import SchemaRegistryDouble

TESTDATA = ROOT / "tests" / "testdata" / "config"


def klaxon(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "RULES_"))}
    return subprocess.run(
        [sys.executable, "-m", "klaxon", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_check_accepts_the_seed_example_unchanged() -> None:
    """`klaxon check config/alert_rules.yaml` exits 0 with a summary, secrets unset."""
    result = klaxon("check", "config/alert_rules.yaml")
    assert result.returncode == 0, result.stdout
    assert "config/alert_rules.yaml: OK: 1 rule(s), 1 enabled" in result.stdout


def test_check_names_file_rule_and_field_and_exits_1() -> None:
    """A typo in a rule is reported with the file, the rule id and the field, exit 1."""
    path = TESTDATA / "unknown_key_rate_limit.yaml"
    result = klaxon("check", str(path))
    assert result.returncode == 1
    assert (
        f'error: {path}: rule "r1": rules[0].rate_limit.cooldown_second: '
        'unknown key (did you mean "cooldown_seconds"?)'
    ) in result.stdout


def test_bridge_refuses_a_broken_config_before_touching_kafka() -> None:
    """A bad config never runs: the bridge exits 1 listing every error."""
    path = TESTDATA / "several_errors.yaml"
    result = klaxon("bridge", RULES_CONFIG_PATH=str(path), KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {path}: {problem}"
        for problem in (
            'rule "r1": rules[0].priority: unknown priority "hgh" (did you mean "high"?)',
            'rule "r1": rules[0].notify[1]: unknown channel "teams" '
            "(known: apprise, email, ntfy, pushover, slack, sms, webhook)",
            'rule "r1": rules[0].conditions[0].value: must list at least one value',
            'rule "r1": rules[0].conditions[1].value: invalid regex "cam-(": missing ): cam-( '
            "(RE2 syntax: no backreferences or lookaround; see docs/rules.md)",
            "rules[1].id: is required",
            'rules[1].conditions[0].value: expected a number, got "fast"',
            'rules[1].message_template: invalid placeholder "{speed:>3}" (a placeholder is a '
            "field path like {plate.normalized_text}; write {{ and }} for literal braces)",
            'rule "r1": rules[2].id: duplicate rule id "r1" (first defined at rules[0])',
            'rule "r1": rules[2].rate_limit.cooldown_seconds: must be positive, got -5',
        )
    ] + [f"9 error(s) in {path}; nothing started."]


def test_bridge_says_clearly_when_kafka_cannot_be_reached(redis_url: str) -> None:
    """Kafka unreachable at start is an error naming the address, not a silent hang."""
    port = servers.free_port()
    result = klaxon(
        "bridge",
        RULES_CONFIG_PATH="config/alert_rules.yaml",
        REDIS_URL=redis_url,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{port}",
        METRICS_PORT="0",
        timeout=60,
    )
    assert result.returncode == 2
    assert f"cannot reach Kafka at 127.0.0.1:{port} within 10s" in result.stderr


def test_dry_run_once_prints_what_would_be_sent_and_commits_nothing(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """--dry-run --once evaluates a batch, prints it, enqueues and commits nothing."""
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}},
        [
            {
                "id": "dry",
                "source": topic,
                "notify": ["webhook"],
                "conditions": [
                    {"field": "plate.normalized_text", "operator": "equals", "value": "DRY001"}
                ],
                "message_template": "seen {plate.normalized_text}",
            }
        ],
    )
    PlateProducer(kafka, registry.url, topic).send(plate_event("DRY001"))
    result = klaxon("bridge", "--dry-run", "--once", **stack.env(config))
    assert result.returncode == 0, result.stderr
    assert "would send webhook for rule dry" in result.stdout
    assert "seen DRY001" in result.stdout
    assert committed(kafka, stack.group, topic) == {}
    assert redis_client.llen("notify.webhook") == 0  # nothing enqueued


def test_config_check_reports_every_dependency(
    stack: Stack,
    kafka: str,
    topic: str,
    sink: HttpSink,
    write_config: Callable[..., Path],
) -> None:
    """--config-check connects to Kafka, Redis and the registry, checks the topics and
    whether ack and silence links can be signed."""
    rule = {
        "id": "r",
        "notify": ["webhook"],
        "message_template": "x",
        "conditions": [{"field": "camera_id", "operator": "exists"}],
    }
    good = write_config({"webhook": {"url": sink.url()}}, [{**rule, "source": topic}])
    result = klaxon("bridge", "--config-check", **stack.env(good))
    assert result.returncode == 0, result.stdout
    assert f"[ok] topic {topic}: 4 partition(s)" in result.stdout
    assert "[ok] redis" in result.stdout and "[ok] schema registry" in result.stdout
    assert "[ok] links: off (KLAXON_PUBLIC_URL unset)" in result.stdout

    missing = write_config({"webhook": {"url": sink.url()}}, [{**rule, "source": "no.such"}])
    env = stack.env(missing, KLAXON_PUBLIC_URL="https://klaxon.example.com")
    result = klaxon("bridge", "--config-check", **env)
    assert result.returncode == 1
    assert "[FAIL] topic no.such: does not exist" in result.stdout
    assert "[FAIL] links: KLAXON_PUBLIC_URL is set but KLAXON_CONSOLE_SECRET is not" in (
        result.stdout
    )


def test_json_logs_name_the_message_and_redact_secrets(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """--log-format json gives one JSON object a line; a bad message names topic[p]@offset."""
    config = write_config(
        {"webhook": {"url": sink.url("/hook"), "headers": {"X-Token": "${HOOK_TOKEN}"}}},
        [
            {
                "id": "j",
                "source": topic,
                "notify": ["webhook"],
                "message_template": "x",
                "conditions": [{"field": "camera_id", "operator": "exists"}],
            }
        ],
    )
    bridge = stack.bridge(config, "--log-format", "json", HOOK_TOKEN="s3cr3t-t0ken-value")
    PlateProducer(kafka, registry.url, topic).raw(b"not avro, not json", key=b"k", partition=3)
    bridge.wait_for_log(f"{topic}[3]@0")
    lines = [json.loads(line) for line in bridge.log().splitlines() if line.startswith("{")]
    assert any(f"{topic}[3]@0" in line["message"] for line in lines)
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    assert "s3cr3t-t0ken-value" not in bridge.log()
