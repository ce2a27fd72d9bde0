"""Push channels end to end: a watchlist hit, through the bridge and a worker, reaches a
local ntfy server and a local Pushover server once each, with the channel's settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import Stack
from tests.support.kafka import PlateProducer, plate_event
from tests.support.ntfy_server import ACCESS_TOKEN, NtfyServer
from tests.support.pushover_server import APP_TOKEN, USER_KEY, PushoverServer
from tests.support.queues import drained
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.wait import wait_until

QUEUES = ("notify.ntfy", "notify.pushover")
DEADLINE = 60.0


@pytest.fixture
def ntfy() -> Iterator[NtfyServer]:
    server = NtfyServer()
    yield server
    server.close()


@pytest.fixture
def pushover() -> Iterator[PushoverServer]:
    server = PushoverServer()
    yield server
    server.close()


def test_a_watchlist_hit_reaches_ntfy_and_pushover_once_each(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    ntfy: NtfyServer,
    pushover: PushoverServer,
) -> None:
    """One hit: one ntfy message on the topic (token, tags, click) and one Pushover message."""
    notifications = {
        "ntfy": {
            "server_url": ntfy.url,
            "topic": "reef-alerts",
            "access_token": "${NTFY_TOKEN}",
            "tags": ["rotating_light", "car"],
            "click_url": "https://alpr.example.com/hits",
        },
        "pushover": {
            "api_url": pushover.url,
            "app_token": "${PUSHOVER_APP_TOKEN}",
            "user_key": "${PUSHOVER_USER_KEY}",
            "priority": 2,
            "retry_seconds": 60,
            "expire_seconds": 3600,
        },
    }
    rule = {
        "id": "watchlist_plate",
        "name": "Watchlist Plate Detected",
        "priority": "high",
        "source": topic,
        "conditions": [
            {"field": "plate.normalized_text", "operator": "in_list", "value": ["ABC123"]}
        ],
        "notify": ["ntfy", "pushover"],
        "message_template": "WATCHLIST {plate.normalized_text} at {camera_id}",
    }
    config = write_config(notifications, [rule])
    secrets = {
        "NTFY_TOKEN": ACCESS_TOKEN,
        "PUSHOVER_APP_TOKEN": APP_TOKEN,
        "PUSHOVER_USER_KEY": USER_KEY,
    }
    worker = stack.worker(config, queues=",".join(QUEUES), **secrets)
    stack.bridge(config)
    PlateProducer(kafka, registry.url, topic).send(
        plate_event("ABC123", camera="gate-north"), plate_event("ZZZ999")
    )

    wait_until(
        lambda: len(ntfy.messages()) >= 1 and len(pushover.messages()) >= 1,
        timeout=DEADLINE,
        message=lambda: f"ntfy {ntfy.messages()}, pushover {pushover.messages()}",
    )
    wait_until(lambda: drained(redis_client, QUEUES), timeout=DEADLINE, message="drained")
    (pushed,) = ntfy.messages("reef-alerts")
    assert pushed["message"] == "WATCHLIST ABC123 at gate-north"
    assert pushed["priority"] == 4  # the rule's "high"
    assert pushed["tags"] == ["rotating_light", "car"]
    assert pushed["click"] == "https://alpr.example.com/hits"
    (message,) = pushover.messages()
    assert message["message"] == "WATCHLIST ABC123 at gate-north"
    assert (message["priority"], message["retry"], message["expire"]) == ("2", "60", "3600")
    assert redis_client.hlen("klaxon:dead") == 0
    for secret in secrets.values():
        assert secret not in worker.log()
