"""``klaxon dead show/purge`` and ``klaxon alerts active/stats/cleanup`` on real Redis state."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from contract.celery_app import make_app
from contract.notification import Notification, Source
from contract.settings import Settings
from klaxon.cli import main
from tasks.deadletters import DeadLetter, DeadLetterStore
from tests.conftest import Stack
from tests.support.databases import sqlite_url
from tests.support.history import record_outbox
from tests.support.http_sink import Answer, HttpSink
from tests.support.kafka import committed
from tests.support.queues import drained
from tests.support.readings import READING_SCHEMA_PATH, T0_MS, ReadingProducer, reading
from tests.support.wait import wait_until

DAY = 86400.0


@pytest.fixture
def cli(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """Run ``klaxon ARGS`` in-process against the test Redis and a history of its own."""
    runner = CliRunner()
    env = {"REDIS_URL": redis_url, "KLAXON_DATABASE_URL": sqlite_url(tmp_path)}

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args), env=env)

    yield run


def lines_of_json(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


# -- dead letters --------------------------------------------------------------------------


def refused_notification() -> dict[str, Any]:
    return Notification(
        id=f"cli-dead-{uuid.uuid4().hex[:8]}",
        channel="webhook",
        rule_id="watch",
        rule_name="Watch",
        priority="high",
        message="plate ABC123",
        subject="watch",
        event={"plate": {"normalized_text": "ABC123"}},
        matched_at="2024-01-01T00:00:00+00:00",
        source=Source(topic="plates", partition=2, offset=41),
    ).to_dict()


def old_letter(letter_id: str, age_seconds: float) -> DeadLetter:
    failed_at = time.time() - age_seconds
    return DeadLetter(
        id=letter_id, rule_id="watch", channel="sms", recipients_left=["+15550100001"],
        message="m", error="21211 invalid number", reason="invalid_recipient", attempts=1,
        first_failure_at=failed_at, last_failure_at=failed_at, notification={},
    )  # fmt: skip


def test_dead_show_and_purge_a_letter_left_by_a_refused_delivery(
    stack: Stack,
    sink: HttpSink,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    redis_url: str,
    cli: Callable[..., Result],
) -> None:
    """`dead show` prints a refused send in full; `dead purge` deletes by id or by age."""
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}},
        [
            {
                "id": "watch",
                "notify": ["webhook"],
                "message_template": "plate {plate.normalized_text}",
                "conditions": [{"field": "camera_id", "operator": "exists"}],
            }
        ],
    )
    sink.script("/hook", Answer(400, "bad request"))
    stack.worker(config)
    sent = refused_notification()
    before = time.time()
    # Published as the bridge publishes it: the task id is the notification id.
    make_app(Settings(redis_url=redis_url)).send_task(
        "notify.webhook", args=[sent], task_id=sent["id"], queue="notify.webhook"
    )
    wait_until(lambda: redis_client.hlen("klaxon:dead") == 1, message="a dead letter")
    wait_until(lambda: drained(redis_client), message="queue drained")
    after = time.time()

    shown = cli("dead", "show", sent["id"])
    assert shown.exit_code == 0, shown.output
    letter = json.loads(shown.stdout)
    assert before <= letter["first_failure_at"] <= letter["last_failure_at"] <= after
    del letter["first_failure_at"], letter["last_failure_at"]
    assert letter == {
        "id": sent["id"],
        "rule_id": "watch",
        "channel": "webhook",
        "recipients_left": [],
        "message": "plate ABC123",
        "error": f"webhook http://127.0.0.1:{sink.port}/… answered 400",  # path hidden
        "reason": "client_error",
        "attempts": 1,
        "notification": sent,
        "fallback_channel": None,  # the webhook channel has no fallback
        "fallback_id": None,
    }
    missing = cli("dead", "show", "no-such-letter")
    assert (missing.exit_code, missing.stderr) == (1, "no dead letter no-such-letter\n")

    store = DeadLetterStore(redis_client)
    store.add(old_letter("eight-days-old", 8 * DAY))
    store.add(old_letter("six-days-old", 6 * DAY))
    assert cli("dead", "purge", "--older-than", "7d").stdout == "purged 1 dead letter(s)\n"
    remaining = lines_of_json(cli("dead", "list", "--json"))
    assert [d["id"] for d in remaining] == ["six-days-old", sent["id"]]

    assert cli("dead", "purge", sent["id"]).stdout == "purged 1 dead letter(s)\n"
    assert cli("dead", "purge", sent["id"]).stdout == "purged 0 dead letter(s)\n"
    assert cli("dead", "show", sent["id"]).exit_code == 1
    assert [d["id"] for d in lines_of_json(cli("dead", "list", "--json"))] == ["six-days-old"]

    both = cli("dead", "purge", "six-days-old", "--older-than", "1d")
    assert both.exit_code == 2
    assert "give one ID or --older-than" in both.stderr
    assert store.get("six-days-old") is not None


# -- alerts --------------------------------------------------------------------------------


def threshold_config(write_config: Callable[..., Path], sink: HttpSink, topic: str) -> Path:
    return write_config(
        {"webhook": {"url": sink.url("/hook")}},
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
                "message_template": "{device_id} {current_value}",
            }
        ],
        sources={topic: {"format": "avro", "schema": str(READING_SCHEMA_PATH)}},
    )


def test_alerts_active_stats_and_cleanup_show_what_the_bridge_recorded(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    cli: Callable[..., Result],
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    """Alerts from real readings: one firing, two resolved (one long ago); stats, cleanup."""
    # Alert events to a topic of this test's own: the default one belongs to other tests.
    config = threshold_config(write_config, sink, topic)
    stack.bridge(config, KLAXON_ALERT_EVENTS_TOPIC=f"{topic}-alert-events")
    now = int(time.time())

    def ago(seconds: int) -> float:
        """A reading's time, in seconds after the readings' T0 (Nov 2023), ``seconds`` ago."""
        return now - seconds - T0_MS / 1000

    ReadingProducer(kafka, topic).send(
        reading("tank-old", "temperature", 83.0, 60),
        reading("tank-old", "temperature", 81.0, 300),
        reading("tank-new", "temperature", 83.5, ago(600)),
        reading("tank-new", "temperature", 80.5, ago(300)),
        reading("tank-hot", "temperature", 84.0, ago(120)),
    )
    wait_until(
        lambda: sum(committed(kafka, stack.group, topic).values()) == 5,
        timeout=60,
        message="the five readings stored and committed",
    )

    record_outbox(redis_client, sqlite_url(tmp_path))
    (firing,) = lines_of_json(cli("alerts", "active", "--json"))
    assert {k: v for k, v in firing.items() if k not in ("id", "metadata")} == {
        "rule_id": "temp_high",
        "device_id": "tank-hot",
        "triggered_at": now - 120,
        "current_value": 84.0,
        "threshold_value": 82.0,
        "operator": ">",
        "metric": "temperature",
        "kind": "threshold",
        "is_resolved": False,
        "resolved_at": None,
        "resolution_value": None,
        "duration_seconds": None,
        "ack": {"state": "open", "by": "", "at": None, "comment": "", "reason": ""},
    }
    triggered = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 120))
    assert cli("alerts", "active").stdout.splitlines() == [
        "id        rule       device    metric       threshold  value  triggered"
        "            resolved  resolution  duration  ack",
        "--------  ---------  --------  -----------  ---------  -----  -------------------"
        "  --------  ----------  --------  ----",
        f"{firing['id'][:8]}  temp_high  tank-hot  temperature  > 82       84     {triggered}"
        "  -         -           firing    open",
    ]

    everything = {
        "rule_id": "temp_high",
        "triggered": 3,
        "resolved": 2,
        "firing": 1,
        "mean_time_to_resolve_seconds": 270.0,  # (240 s + 300 s) / 2
    }
    assert json.loads(cli("alerts", "stats", "--json").stdout) == [everything]
    assert json.loads(cli("alerts", "stats", "--since", "1d", "--json").stdout) == [
        {**everything, "triggered": 2, "resolved": 1, "mean_time_to_resolve_seconds": 300.0}
    ]
    assert cli("alerts", "stats").stdout.splitlines() == [
        "rule       triggered  resolved  firing  mean time to resolve",
        "---------  ---------  --------  ------  --------------------",
        "temp_high  3          2         1       4m 30s",
    ]

    def devices() -> list[str]:
        return [e["device_id"] for e in lines_of_json(cli("alerts", "history", "--json"))]

    assert devices() == ["tank-old", "tank-new", "tank-hot"]
    assert cli("alerts", "cleanup", "--older-than", "30d").stdout == "deleted 1 alert event(s)\n"
    assert devices() == ["tank-new", "tank-hot"]
    # Older than a minute: the resolved one goes, the firing one stays.
    assert cli("alerts", "cleanup", "--older-than", "1m").stdout == "deleted 1 alert event(s)\n"
    assert devices() == ["tank-hot"]
    assert [e["id"] for e in lines_of_json(cli("alerts", "active", "--json"))] == [firing["id"]]
