"""One-click ack and silence links end to end: Kafka, the bridge, a worker, Slack's double."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from contract.ack_links import LinkAction, LinkSigner, claim_once
from tests.conftest import Stack
from tests.support.http_sink import HttpSink
from tests.support.kafka import PlateProducer, plate_event
from tests.support.processes import ROOT
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.slack_server import SlackServer
from tests.support.wait import wait_until

PUBLIC = "https://klaxon.example.com/ops"
SECRET = "an-integration-console-secret-0123456789"
LINKS = {"KLAXON_PUBLIC_URL": PUBLIC + "/", "KLAXON_CONSOLE_SECRET": SECRET}


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    server = SlackServer()
    yield server
    server.close()


def test_an_acknowledgeable_match_sends_slack_buttons_whose_links_verify(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    slack: SlackServer,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """The Slack message has Acknowledge and Silence 1h buttons and the rendered {ack_url};
    each link verifies with the same secret to the alert the webhook names, and is
    claimed once."""
    rule: dict[str, Any] = {
        "id": "watchlist_plate",
        "source": topic,
        "conditions": [{"field": "plate.normalized_text", "operator": "equals", "value": "ABC123"}],
        "notify": ["slack", "webhook"],
        "acknowledge": True,
        "message_template": "Plate {plate.normalized_text}: ack at {ack_url}",
    }
    config = write_config(
        {"slack": {"webhook_url": slack.webhook_url}, "webhook": {"url": sink.url("/hook")}},
        [rule],
    )
    stack.worker(config, queues="notify.slack,notify.webhook", **LINKS)
    stack.bridge(config, **LINKS)
    PlateProducer(kafka, registry.url, topic).send(plate_event("ABC123"))

    wait_until(lambda: len(slack.posts()) == 1, timeout=30, message="one Slack post")
    (hook,) = sink.wait_for(1, "/hook")
    alert_id = hook.json()["alert"]["id"]
    (post,) = slack.posts()
    (actions,) = [block for block in post["blocks"] if block["type"] == "actions"]
    ack, silence = actions["elements"]
    assert [(b["type"], b["text"]["text"]) for b in (ack, silence)] == [
        ("button", "Acknowledge"),
        ("button", "Silence 1h"),
    ]
    assert ack["url"].startswith(f"{PUBLIC}/ack/")
    assert silence["url"].startswith(f"{PUBLIC}/silence-link/")
    assert post["text"] == f"Plate ABC123: ack at {ack['url']}"
    assert hook.json()["links"] == {"ack": ack["url"], "silence": silence["url"]}

    console = LinkSigner(PUBLIC, SECRET)
    claim = console.verify(ack["url"].rsplit("/", 1)[1], LinkAction.ACK)
    assert claim.alert_id == alert_id
    assert console.verify(silence["url"].rsplit("/", 1)[1], LinkAction.SILENCE).alert_id == (
        alert_id
    )
    assert claim_once(redis_client, claim, console.ttl_seconds) is True
    assert claim_once(redis_client, claim, console.ttl_seconds) is False


def test_a_bridge_with_a_public_url_and_no_secret_refuses_to_start(
    write_config: Callable[..., Path], sink: HttpSink
) -> None:
    """Links nothing could verify: the bridge exits at once, saying what to set."""
    config = write_config({"webhook": {"url": sink.url("/hook")}}, [])
    env = {
        **os.environ,
        "RULES_CONFIG_PATH": str(config),
        "KLAXON_PUBLIC_URL": PUBLIC,
        "KLAXON_CONSOLE_SECRET": "",
        "METRICS_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "klaxon", "bridge"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "error: KLAXON_PUBLIC_URL is set but KLAXON_CONSOLE_SECRET is not" in done.stderr


def test_a_channel_worker_starts_without_the_secret_and_the_sweep_worker_does_not(
    stack: Stack, write_config: Callable[..., Path], sink: HttpSink
) -> None:
    """KLAXON_PUBLIC_URL in a shared environment, the secret only where links are signed:
    a channel worker (it signs nothing) starts; a worker of the sweep queue refuses."""
    config = write_config({"webhook": {"url": sink.url("/hook")}}, [])
    half_set = {"KLAXON_PUBLIC_URL": PUBLIC, "KLAXON_CONSOLE_SECRET": ""}
    channel = stack.process(config, "worker", "-Q", "notify.webhook", "-c", "1", **half_set)
    channel.wait_for_log(" ready.", timeout=60)

    done = subprocess.run(
        [sys.executable, "-m", "klaxon", "worker", "-Q", "notify.webhook,klaxon.sweep"],
        cwd=ROOT,
        env=stack.env(config, **half_set),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "error: KLAXON_PUBLIC_URL is set but KLAXON_CONSOLE_SECRET is not" in done.stderr
