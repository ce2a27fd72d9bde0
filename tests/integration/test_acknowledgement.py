"""Acknowledgement, reminders and escalation end to end: Kafka, bridge, beat, workers, a sink."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from alerts.due import DUE_KEY
from contract.redis_replies import text, texts
from tasks.delayed import DELAYED_KEY
from tests.conftest import Stack
from tests.support.http_sink import HttpSink
from tests.support.outbox import read_outbox
from tests.support.processes import ROOT, ManagedProcess
from tests.support.readings import READING_SCHEMA_PATH, ReadingProducer, reading
from tests.support.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioServer
from tests.support.wait import wait_until

ON_CALL = "+15550100002"
# The outbox kinds these tests look at (the bridge and workers append many others).
FOLLOW_UPS = ("reminder", "escalation", "ack")


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    server = TwilioServer()
    yield server
    server.close()


def own_alert_events(topic: str) -> dict[str, str]:
    """An alert-events topic of this test's own: the default one belongs to test_thresholds."""
    return {"KLAXON_ALERT_EVENTS_TOPIC": f"{topic}.alert-events"}


def tank_config(
    write_config: Callable[..., Path],
    sink: HttpSink,
    topic: str,
    twilio: TwilioServer | None = None,
    **rule: Any,
) -> Path:
    base = {
        "id": "tank_temperature_high",
        "type": "threshold",
        "source": topic,
        "metric": "temperature",
        "operator": ">",
        "threshold": 82.0,
        "notify": ["webhook"],
        "message_template": "{device_id} at {current_value}: klaxon alerts ack {alert_id}",
        **rule,
    }
    channels: dict[str, Any] = {"webhook": {"url": sink.url("/hook")}}
    if twilio is not None:
        channels["sms"] = {
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "from_number": "+15550000000",
            "to_numbers": ["+15550100001"],
            "api_base_url": twilio.base_url,
        }
    return write_config(
        channels,
        [base],
        sources={topic: {"format": "avro", "schema": str(READING_SCHEMA_PATH)}},
    )


def posts(sink: HttpSink, transition: str) -> list[dict[str, Any]]:
    return [r.json() for r in sink.requests("/hook") if r.json()["transition"] == transition]


def notifications_done(client: redis.Redis) -> bool:
    """No notification waits in its queue, in the delayed set or held by a worker.

    A sweep task a killed sweeper held stays in kombu's ``unacked`` hash until the
    visibility timeout; it is no notification, so it does not count.
    """
    held = [json.loads(text(raw)) for raw in client.hvals("unacked")]
    return (
        client.llen("notify.webhook") == 0
        and client.llen("notify.sms") == 0
        and client.zcard(DELAYED_KEY) == 0
        and not any(str(entry[2]).startswith("notify.") for entry in held)
    )


def klaxon(*args: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "klaxon", *args],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sweeps_done(worker: ManagedProcess) -> int:
    return worker.log().count("klaxon.sweep_no_data[") // 2  # received + succeeded lines


def test_an_unacknowledged_alert_is_reminded_until_klaxon_alerts_ack(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    redis_url: str,
) -> None:
    """repeat [2s, 3s]: reminders at 2 s and 5 s; after `klaxon alerts ack` no more come."""
    config = tank_config(write_config, sink, topic, repeat=["2s", "3s"])
    worker = stack.worker(config, queues="notify.webhook,klaxon.sweep")
    stack.bridge(config, **own_alert_events(topic))
    stack.process(
        config, "beat", "--interval", "1", "--schedule", str(stack.log_dir / "beat-schedule")
    )
    ReadingProducer(kafka, topic).send(reading("tank-1", "temperature", 90.0, 0))

    wait_until(
        lambda: len(posts(sink, "reminder")) >= 2,
        timeout=60,
        message=lambda: f"two reminders, got {[r.json() for r in sink.requests('/hook')]}",
    )
    (trigger,) = posts(sink, "trigger")
    alert_id = trigger["alert"]["id"]
    assert trigger["message"] == f"tank-1 at 90.0: klaxon alerts ack {alert_id}"

    done = klaxon(
        "alerts", "ack", alert_id[:8], "--by", "ana", "--comment", "on it", redis_url=redis_url
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"alert {alert_id}: acknowledged by ana"
    assert [m for m in texts(redis_client.zrange(DUE_KEY, 0, -1)) if "reminder" in m] == []

    # Three more sweeps (six seconds, two reminder gaps) after the ack, then nothing queued.
    seen = sweeps_done(worker)
    wait_until(lambda: sweeps_done(worker) >= seen + 3, timeout=60, message="three more sweeps")
    wait_until(lambda: notifications_done(redis_client), message="notifications delivered")
    kinds = [entry.kind for entry in read_outbox(redis_client) if entry.kind in FOLLOW_UPS]
    assert "reminder" not in kinds[kinds.index("ack") :]  # none taken after the ack
    # Each reminder taken was sent once, plus at most the one a sweep had published as the
    # ack landed (its take then found it gone): reminders stopped.
    sent = posts(sink, "reminder")
    assert len({post["id"] for post in sent}) == len(sent)
    assert kinds.count("reminder") <= len(sent) <= kinds.count("reminder") + 1

    active = klaxon("alerts", "active", "--json", redis_url=redis_url)
    (shown,) = [json.loads(line) for line in active.stdout.splitlines()]
    assert shown["ack"]["state"] == "acknowledged"
    assert (shown["ack"]["by"], shown["ack"]["comment"]) == ("ana", "on it")


def test_escalation_texts_the_on_call_once_across_a_killed_bridge_and_a_killed_sweeper(
    stack: Stack,
    kafka: str,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    twilio: TwilioServer,
) -> None:
    """SIGKILL the bridge before commit and the sweeper between publish and take: one SMS."""
    config = tank_config(
        write_config,
        sink,
        topic,
        twilio,
        escalation=[{"after": "2s", "notify": ["sms"], "recipients": {"sms": [ON_CALL]}}],
    )
    stack.worker(config, queues="notify.webhook,notify.sms")  # it stays up
    crashing = stack.bridge(config, KLAXON_FAULT="crash_before_commit", **own_alert_events(topic))
    ReadingProducer(kafka, topic).send(reading("tank-1", "temperature", 90.0, 0))
    assert crashing.wait(60) == -signal.SIGKILL
    # Replays the reading: the alert opens once, its step is due once.
    stack.bridge(config, **own_alert_events(topic))

    sweeper = stack.worker(config, queues="klaxon.sweep", KLAXON_FAULT="sweep_before_advance")
    stack.process(
        config, "beat", "--interval", "1", "--schedule", str(stack.log_dir / "beat-schedule")
    )
    assert sweeper.wait(60) == -signal.SIGKILL  # it published the step, then died
    stack.worker(config, queues="klaxon.sweep")

    wait_until(
        lambda: (
            [e.kind for e in read_outbox(redis_client) if e.kind in FOLLOW_UPS] == ["escalation"]
        ),
        timeout=60,
        message=lambda: f"the step taken, outbox {read_outbox(redis_client)}",
    )
    wait_until(lambda: notifications_done(redis_client), message="notifications delivered")
    (trigger,) = posts(sink, "trigger")
    assert twilio.delivered() == {ON_CALL: 1}
    (sms,) = twilio.messages
    assert sms["Body"] == trigger["message"]  # the alert's message, with its id to ack
    assert redis_client.zcard(DUE_KEY) == 0
