"""Grouped rules and storm mode end to end: Kafka, the bridge, Redis, workers, local sinks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from alerts.grouping import DUE, PENDING, GroupId
from contract import encoding
from tests.conftest import Stack
from tests.support.http_sink import HttpSink
from tests.support.kafka import PLATE_SCHEMA, PlateProducer, plate_event
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.slack_server import SlackServer
from tests.support.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioServer
from tests.support.wait import wait_until

FROM_NUMBER = "+15005550006"
TO_NUMBER = "+15005550001"
GROUP_TEMPLATE = "{count} stolen-pattern hits at {group.camera_id}\n{items}"
COUNT = re.compile(r"(\d+) stolen-pattern hits at (\S+)")


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


def grouped_config(
    write_config: Callable[..., Path],
    topic: str,
    sink: HttpSink,
    slack: SlackServer,
    twilio: TwilioServer,
    **rule: Any,
) -> Path:
    return write_config(
        {
            "webhook": {"url": sink.url("/hook")},
            "slack": {"enabled": True, "webhook_url": slack.webhook_url},
            "sms": {
                "enabled": True,
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": AUTH_TOKEN,
                "from_number": FROM_NUMBER,
                "to_numbers": [TO_NUMBER],
                "api_base_url": twilio.base_url,
            },
        },
        [
            {
                "id": "stolen_pattern",
                "name": "Stolen pattern",
                "source": topic,
                "conditions": [
                    {"field": "plate.normalized_text", "operator": "regex", "value": "^STL"}
                ],
                "message_template": "{plate.normalized_text} at {camera_id} ({vehicle.color})",
                **rule,
            }
        ],
    )


def burst(count: int, cameras: int) -> list[dict[str, Any]]:
    return [plate_event(f"STL{n:04d}", camera=f"cam-{n % cameras}") for n in range(count)]


def send_burst(
    kafka: str, registry: SchemaRegistryDouble, topic: str, count: int, cameras: int
) -> None:
    """Produce the burst in one flush, so it reaches the bridge within a fraction of ``wait``."""
    plates = PlateProducer(kafka, registry.url, topic)
    for event in burst(count, cameras):
        value = encoding.registry_framed(event, PLATE_SCHEMA, plates.schema_id)
        plates.producer.produce(topic, value=value, key=event["camera_id"].encode())
    assert plates.producer.flush(30) == 0


def counts_of(texts: list[str]) -> dict[str, int]:
    found = {}
    for text in texts:
        match = COUNT.search(text)
        assert match is not None, text
        found[match.group(2)] = int(match.group(1))
    return found


def test_300_matches_over_3_cameras_make_3_messages_per_channel_counting_300(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    slack: SlackServer,
    twilio: TwilioServer,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """One grouped message per camera on each channel; each SMS within 1,600 characters."""
    config = grouped_config(
        write_config,
        topic,
        sink,
        slack,
        twilio,
        notify=["webhook", "slack", "sms"],
        group={"by": ["camera_id"], "wait": "8s", "interval": "5m", "max_items": 100},
        group_template=GROUP_TEMPLATE,
    )
    stack.worker(config, queues="notify.webhook,notify.slack,notify.sms")
    stack.bridge(config)
    send_burst(kafka, registry, topic, 300, cameras=3)

    hooks = sink.wait_for(3, "/hook", timeout=60)
    wait_until(lambda: len(slack.posts()) >= 3 and len(twilio.messages) >= 3, timeout=30)
    expected = {"cam-0": 100, "cam-1": 100, "cam-2": 100}
    assert counts_of([h.json()["message"] for h in hooks]) == expected
    assert counts_of([p["text"] for p in slack.posts()]) == expected
    bodies = [m["Body"] for m in twilio.messages]
    assert counts_of(bodies) == expected
    for body in bodies:
        # 100 listed lines would be ~3,000 characters: the SMS lists fewer and says so,
        # rather than being cut mid-line by the channel.
        assert len(body) <= 1600
        assert re.search(r"\nand \d+ more\Z", body), body[-80:]
    for post in slack.posts():
        assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in post["blocks"])
    assert (len(hooks), len(slack.posts()), len(twilio.messages)) == (3, 3, 3)


def test_a_group_open_when_bridge_and_worker_are_killed_is_sent_once_after_restart(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    slack: SlackServer,
    twilio: TwilioServer,
    topic: str,
    redis_client: redis.Redis,
    write_config: Callable[..., Path],
) -> None:
    """SIGKILL both processes while a group waits: its items go out exactly once afterwards."""
    config = grouped_config(
        write_config,
        topic,
        sink,
        slack,
        twilio,
        notify=["webhook"],
        group={"by": ["camera_id"], "wait": "6s", "interval": "5m"},
        group_template=GROUP_TEMPLATE,
    )
    worker = stack.worker(config)
    bridge = stack.bridge(config)
    send_burst(kafka, registry, topic, 40, cameras=1)
    group = GroupId("stolen_pattern", "group", "camera_id=cam-0").redis_key
    wait_until(lambda: redis_client.hget(group, "count") == b"40", timeout=30)
    bridge.kill()
    worker.kill()
    assert sink.requests("/hook") == []

    stack.worker(config)
    stack.bridge(config)
    (hook,) = sink.wait_for(1, "/hook", timeout=60)
    assert counts_of([hook.json()["message"]]) == {"cam-0": 40}
    # Nothing is left to send: the window is claimed and published, no item is held.
    wait_until(lambda: redis_client.scard(PENDING) == 0, timeout=10)
    assert redis_client.hget(group, "count") == b"0"
    assert redis_client.zcard(DUE) == 1  # the group stays open for its interval
    assert len(sink.requests("/hook")) == 1


def test_a_storm_of_200_matches_switches_the_rule_to_grouping_and_says_so(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    slack: SlackServer,
    twilio: TwilioServer,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """Past 50 notifications in a minute the rest arrives as one message for the rule."""
    config = grouped_config(
        write_config,
        topic,
        sink,
        slack,
        twilio,
        notify=["webhook"],
        storm={"threshold": 50, "within": "1m"},
        group_template="{count} more stolen-pattern hits (storm)\n{items}",
    )
    stack.worker(config)
    bridge = stack.bridge(config)
    send_burst(kafka, registry, topic, 200, cameras=4)

    bridge.wait_for_log("storm mode on for rule stolen_pattern", timeout=60)

    def covered() -> int:
        """Matches accounted for: single messages plus the counts of storm messages."""
        total = 0
        for request in sink.requests("/hook"):
            text = request.json()["message"]
            total += int(text.split(" ", 1)[0]) if "(storm)" in text else 1
        return total

    wait_until(lambda: covered() == 200, timeout=60, message="messages covering 200 matches")
    messages = [r.json()["message"] for r in sink.requests("/hook")]
    storm = [m for m in messages if "(storm)" in m]
    alone = len(messages) - len(storm)
    # A burst straddling a minute boundary may send up to 50 alone in each minute.
    assert alone in (50, 100)
    assert 1 <= len(storm) <= 2
