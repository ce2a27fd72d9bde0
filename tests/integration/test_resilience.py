"""Dependencies going away: the bridge waits and retries, it never skips an event."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import redis

from tests.conftest import Stack
from tests.support import servers
from tests.support.http_sink import HttpSink
from tests.support.kafka import PlateProducer, committed, plate_event
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.wait import wait_until


def test_redis_down_stops_commits_and_the_event_is_delivered_when_it_returns(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
) -> None:
    """With Redis gone the batch is retried, uncommitted; once Redis is back it is delivered."""
    port = servers.free_port()
    url = f"redis://127.0.0.1:{port}/0"
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}},
        [
            {
                "id": "r",
                "source": topic,
                "notify": ["webhook"],
                "message_template": "{camera_id}",
                "conditions": [{"field": "camera_id", "operator": "equals", "value": "cam-9"}],
            }
        ],
    )
    with servers.redis_server(port):
        stack.worker(config, REDIS_URL=url)
        bridge = stack.bridge(config, REDIS_URL=url)
    # Redis is gone now.
    PlateProducer(kafka, registry.url, topic).send(
        plate_event("ANY123", camera="cam-9"), partition=0
    )
    bridge.wait_for_log("not enqueued, retrying", timeout=30)
    assert committed(kafka, stack.group, topic) == {}
    assert bridge.alive

    with servers.redis_server(port):
        (post,) = sink.wait_for(1, "/hook", timeout=60)
        assert post.json()["message"] == "cam-9"
        wait_until(
            lambda: committed(kafka, stack.group, topic).get(0) == 1,
            timeout=30,
            message="the offset committed after Redis returned",
        )
        assert redis.Redis.from_url(url).exists(f"klaxon:sent:{post.json()['id']}")
