"""End to end: readings -> bridge -> workers -> outbox -> recorder -> database -> the API."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tests.conftest import Stack
from tests.support.databases import Unavailable, postgres_url, sqlite_url
from tests.support.http_sink import Answer, HttpSink
from tests.support.queues import drained
from tests.support.readings import READING_SCHEMA_PATH, ReadingProducer, reading
from tests.support.servers import free_port
from tests.support.wait import wait_until

TOKEN = "e2e-read-token-0123456789"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL as in production when one can be had, else SQLite."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_url())
        except Unavailable:
            url = sqlite_url(tmp_path)
        yield url


def _get(port: int, path: str, **params: Any) -> Any:
    response = requests.get(
        f"http://127.0.0.1:{port}/api/v1{path}",
        params=params,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def test_the_seed_readings_appear_in_the_api_with_every_delivery_attempt(
    stack: Stack,
    sink: HttpSink,
    topic: str,
    kafka: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    database_url: str,
) -> None:
    """25.5/82.5/83.0/81.0: trigger and resolve in /alerts, both sent; 503, 503, 200: 3 tries."""
    config = write_config(
        {
            "webhook": {
                "url": sink.url("/hook"),
                "retry": {"max_retries": 3, "backoff_seconds": 0.1},
            }
        },
        [
            {
                "id": "temp_high",
                "type": "threshold",
                "source": topic,
                "metric": "temperature",
                "operator": ">",
                "threshold": 82.0,
                "notify": ["webhook"],
                "notify_on_resolve": True,
                "message_template": "{device_id} temperature {current_value} > {threshold}",
                "resolve_template": "{device_id} back to {current_value}",
            }
        ],
        sources={topic: {"format": "avro", "schema": str(READING_SCHEMA_PATH)}},
    )
    sink.script("/hook", Answer(503, "busy"), Answer(503, "busy"))
    history = {"KLAXON_DATABASE_URL": database_url}
    stack.worker(config)
    stack.bridge(config, KLAXON_ALERT_EVENTS_TOPIC=f"{topic}-alert-events")
    recorder_port = free_port()
    stack.process(
        config, "recorder", "--name", "e2e", KLAXON_RECORDER_PORT=str(recorder_port), **history
    )
    port = free_port()
    api = stack.process(
        config, "api", "--port", str(port), KLAXON_API_TOKENS=f"read:{TOKEN}", **history
    )
    api.wait_for_log("Application startup complete", timeout=60)

    producer = ReadingProducer(kafka, topic)
    producer.send(
        reading("tank-1", "temperature", 25.5, 0),
        reading("tank-1", "temperature", 82.5, 60),
        reading("tank-1", "temperature", 83.0, 120),
    )
    sink.wait_for(3, "/hook", timeout=60)  # refused twice, accepted the third time
    producer.send(reading("tank-1", "temperature", 81.0, 300))
    sink.wait_for(4, "/hook", timeout=60)
    wait_until(lambda: drained(redis_client), message="queues drained")

    def recorded() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = _get(port, "/notifications", status="sent")["items"]
        return items if len(items) == 2 else []

    sent = wait_until(recorded, timeout=60, message="two sent notifications in the API")
    assert sorted(n["transition"] for n in sent) == ["resolve", "trigger"]
    assert {n["rule_id"] for n in sent} == {"temp_high"}

    (alert,) = wait_until(
        lambda: [a for a in _get(port, "/alerts")["items"] if a["is_resolved"]],
        message="the resolved alert in the API",
    )
    assert (alert["device_id"], alert["current_value"], alert["resolution_value"]) == (
        "tank-1",
        82.5,
        81.0,
    )
    assert alert["duration_seconds"] == 240.0
    timeline = _get(port, f"/alerts/{alert['id']}")["timeline"]
    assert [step["kind"] for step in timeline] == ["trigger", "resolve"]
    assert {n["alert_id"] for n in sent} == {alert["id"]}

    (trigger,) = [n for n in sent if n["transition"] == "trigger"]
    attempts = _get(port, f"/notifications/{trigger['id']}")["attempts"]
    assert [(a["number"], a["outcome"]) for a in attempts] == [
        (1, "failed"),
        (2, "failed"),
        (3, "sent"),
    ]
    assert all(a["started_at"] <= a["finished_at"] for a in attempts)
    assert "503" in attempts[0]["error"]

    # The recorder's own metrics and readiness.
    def metrics() -> str:
        return requests.get(f"http://127.0.0.1:{recorder_port}/metrics", timeout=10).text

    (recorded,) = re.findall(r"^klaxon_recorder_records_total (\S+)$", metrics(), re.MULTILINE)
    assert float(recorded) >= 12  # 2 queued, 4 attempts x 2 entries, 2 alert events
    wait_until(
        lambda: re.search(r"^klaxon_recorder_lag 0\.0$", metrics(), re.MULTILINE),
        message="recorder lag 0",
    )
    assert requests.get(f"http://127.0.0.1:{recorder_port}/readyz", timeout=10).status_code == 200
