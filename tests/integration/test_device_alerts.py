"""Device alerts end to end on real Kafka, Redis, bridge, workers and channel doubles:
bands with levels, trends and expected devices."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.support import servers, yamlfile
from tests.support.http_sink import HttpSink
from tests.support.processes import ROOT
from tests.support.readings import READING_SCHEMA_PATH, ReadingProducer, reading
from tests.support.slack_server import SlackServer
from tests.support.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioServer
from tests.support.wait import wait_until

FROM_NUMBER = "+15005550006"


def own_events(topic: str) -> dict[str, str]:
    """An alert-events topic of this test's own: the default one belongs to test_thresholds."""
    return {"KLAXON_ALERT_EVENTS_TOPIC": f"{topic}.alert-events"}


ON_CALL = "+15005550001"
DEADLINE = 60


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    server = SlackServer()
    yield server
    server.close()


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    server = TwilioServer()
    yield server
    server.close()


def config_for(
    write_config: Callable[..., Path], topic: str, channels: dict[str, Any], *rules: dict[str, Any]
) -> Path:
    return write_config(
        channels,
        [{"source": topic, **rule} for rule in rules],
        sources={topic: {"format": "avro", "schema": str(READING_SCHEMA_PATH)}},
    )


def test_a_band_notifies_slack_on_warning_sms_on_critical_and_resolves_on_both(
    stack: Stack,
    kafka: str,
    topic: str,
    slack: SlackServer,
    twilio: TwilioServer,
    write_config: Callable[..., Path],
) -> None:
    """27.4 warns on Slack, 28.3 escalates the same alert to SMS, 26.0 resolves on both."""
    config = config_for(
        write_config,
        topic,
        {
            "slack": {"enabled": True, "webhook_url": slack.webhook_url},
            "sms": {
                "enabled": True,
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": AUTH_TOKEN,
                "from_number": FROM_NUMBER,
                "to_numbers": [ON_CALL],
                "api_base_url": twilio.base_url,
            },
        },
        {
            "id": "tank-temp",
            "name": "Tank temperature",
            "type": "range",
            "metric": "temperature",
            "notify": ["slack"],
            "notify_on_resolve": True,
            "levels": [
                {"severity": "warning", "low": 25, "high": 27},
                {"severity": "critical", "low": 24, "high": 28, "notify": ["sms"]},
            ],
        },
    )
    stack.worker(config, queues="notify.slack,notify.sms", **own_events(topic))
    stack.bridge(config, **own_events(topic))
    producer = ReadingProducer(kafka, topic)

    def texts() -> list[str]:
        return [str(m["Body"]) for m in twilio.messages]

    def posts() -> list[str]:
        return [str(p.get("text", p)) for p in slack.posts()]

    producer.send(
        reading("tank-1", "temperature", 26.0, 0), reading("tank-1", "temperature", 27.4, 60)
    )
    wait_until(lambda: len(posts()) == 1, timeout=DEADLINE, message=lambda: f"warning: {posts()}")
    assert "[warning]" in posts()[0] and "27.4" in posts()[0]
    assert texts() == []

    producer.send(reading("tank-1", "temperature", 28.3, 120))
    wait_until(lambda: len(texts()) == 1, timeout=DEADLINE, message=lambda: f"critical: {texts()}")
    assert "[critical]" in texts()[0] and "outside 24..28" in texts()[0]

    producer.send(reading("tank-1", "temperature", 26.0, 180))
    wait_until(
        lambda: len(texts()) == 2 and len(posts()) == 2,
        timeout=DEADLINE,
        message=lambda: f"resolves: {posts()} {texts()}",
    )
    assert texts()[1].startswith("RESOLVED") and posts()[1].startswith("RESOLVED")


def test_rate_of_change_fires_before_the_threshold_and_an_expected_device_gets_no_data(
    stack: Stack,
    kafka: str,
    topic: str,
    sink: HttpSink,
    write_config: Callable[..., Path],
) -> None:
    """A heater stuck on (0.06 °C a minute) fires rate_of_change, never > 27; a listed device
    that never reports gets a no-data alert from beat."""
    hook = {"webhook": {"url": sink.url("/hook")}}
    config = config_for(
        write_config,
        topic,
        hook,
        {
            "id": "too-hot",
            "type": "threshold",
            "metric": "temperature",
            "operator": ">",
            "threshold": 27.0,
            "notify": ["webhook"],
            "no_data_seconds": 1,
            "expected_devices": ["frag-tank"],
            "notify_on_resolve": True,
        },
        {
            "id": "heating-fast",
            "type": "rate_of_change",
            "metric": "temperature",
            "per": "10m",
            "threshold": 0.5,
            "direction": "rising",
            "notify": ["webhook"],
        },
    )
    stack.worker(config, queues="notify.webhook,klaxon.sweep", **own_events(topic))
    stack.bridge(config, **own_events(topic))
    stack.process(
        config, "beat", "--interval", "1", "--schedule", str(stack.log_dir / "beat-schedule")
    )
    producer = ReadingProducer(kafka, topic)
    producer.send(
        *[reading("tank-1", "temperature", round(25.0 + 0.06 * m, 2), m * 60) for m in range(11)]
    )

    def seen() -> list[tuple[str, str, str]]:
        return [
            (r.json()["rule_id"], r.json()["transition"], str(r.json()["event"]["device_id"]))
            for r in sink.requests("/hook")
        ]

    wait_until(
        lambda: (
            ("heating-fast", "trigger", "tank-1") in seen()
            and ("too-hot", "no_data", "frag-tank") in seen()
        ),
        timeout=DEADLINE,
        message=lambda: f"rate and no-data alerts, got {seen()}",
    )
    assert ("too-hot", "trigger", "tank-1") not in seen()
    producer.send(reading("frag-tank", "temperature", 25.5, 700))
    wait_until(
        lambda: ("too-hot", "no_data_resolve", "frag-tank") in seen(),
        timeout=DEADLINE,
        message=lambda: f"frag-tank's first reading ends its no-data alert, got {seen()}",
    )
    assert seen().count(("too-hot", "no_data", "frag-tank")) == 1


def test_the_heartbeat_pings_while_healthy_and_stops_when_redis_stops(
    stack: Stack,
    topic: str,
    sink: HttpSink,
    tmp_path: Path,
) -> None:
    """Every second a ping while partitions are owned and Redis answers; none once it is gone."""
    port = servers.free_port()
    config = tmp_path / "heartbeat.yaml"
    config.write_text(
        yamlfile.dump(
            {
                "heartbeat": {"url": sink.url("/ping"), "every": "1s"},
                "notifications": {"webhook": {"url": sink.url("/hook")}},
                "rules": [
                    {
                        "id": "hot",
                        "type": "threshold",
                        "source": topic,
                        "metric": "temperature",
                        "operator": ">",
                        "threshold": 28,
                        "notify": ["webhook"],
                    }
                ],
                "sources": {topic: {"format": "avro", "schema": str(READING_SCHEMA_PATH)}},
            }
        )
    )

    def pings() -> int:
        return len(sink.requests("/ping"))

    with servers.redis_server(port):
        bridge = stack.bridge(config, REDIS_URL=f"redis://127.0.0.1:{port}/0", **own_events(topic))
        wait_until(lambda: pings() >= 2, timeout=DEADLINE, message=lambda: bridge.log()[-2000:])
    # Redis is gone: the next beats find it unreachable and do not ping.
    unhealthy = "heartbeat: not pinging, unhealthy: redis unreachable"
    wait_until(lambda: unhealthy in bridge.log(), timeout=DEADLINE, message="an unhealthy beat")
    after = pings()
    wait_until(
        lambda: bridge.log().count(unhealthy) >= 3,
        timeout=DEADLINE,
        message="three unhealthy beats",
    )
    assert pings() == after


def klaxon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klaxon", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_notify_test_reaches_slack_through_the_queue_and_a_worker(
    stack: Stack,
    topic: str,
    slack: SlackServer,
    write_config: Callable[..., Path],
) -> None:
    """The marked test message is posted by the worker; the command prints "sent"."""
    config = config_for(
        write_config,
        topic,
        {"slack": {"enabled": True, "webhook_url": slack.webhook_url}},
        {
            "id": "tank-temp",
            "name": "Tank temperature",
            "type": "range",
            "metric": "temperature",
            "high": 27,
            "notify": ["slack"],
        },
    )
    stack.worker(config, queues="notify.slack", **own_events(topic))

    result = klaxon(
        "notify", "test", "--channel", "slack", "--rule", "tank-temp", env=stack.env(config)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "sent: slack accepted the test notification" in result.stdout
    (post,) = slack.posts()
    assert str(post["text"]).startswith(
        "[TEST] Klaxon test notification on slack for rule tank-temp"
    )
    refused = klaxon("notify", "test", "--channel", "sms", env=stack.env(config))
    assert refused.returncode == 2
    assert "channel 'sms' is not configured" in refused.stderr
