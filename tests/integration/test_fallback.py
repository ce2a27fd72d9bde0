"""Fallback channels end to end: an SMS that Twilio refuses is sent once through email.

The SMS double answers 400 (a permanent error), so the notification is dead-lettered on
sms at its first attempt; the worker hands one copy to email, whose SMTP double counts it.
A fallback never chains: two channels naming each other, both failing, end as two dead
letters and nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tasks.deadletters import DeadLetter, DeadLetterStore
from tests.conftest import Stack
from tests.support.kafka import PlateProducer, plate_event
from tests.support.queues import drained
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.servers import free_port
from tests.support.smtp_server import SmtpServer
from tests.support.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioServer, twilio_error
from tests.support.wait import wait_until

QUEUES = ("notify.sms", "notify.email")
TO_NUMBER = "+15559876543"
ON_CALL = "on-call@example.com"
DEADLINE = 60.0
REFUSED = twilio_error(400, 21606, "The 'From' phone number is not a valid sender.")


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    server = TwilioServer()
    yield server
    server.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer("plain")
    yield server
    server.close()


def notifications(twilio: TwilioServer, smtp: SmtpServer, **fallbacks: str) -> dict[str, Any]:
    sms = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "from_number": "+15551234567",
        "to_numbers": [TO_NUMBER],
        "api_base_url": twilio.base_url,
        "retry": {"max_retries": 1, "backoff_seconds": 0.2},
    }
    email = {
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "security": "none",
        "from_address": "klaxon@example.com",
        "recipients": [ON_CALL],
        "retry": {"max_retries": 1, "backoff_seconds": 0.2},
    }
    for channel, target in fallbacks.items():
        {"sms": sms, "email": email}[channel]["fallback"] = target
    return {"sms": sms, "email": email}


def sms_rule(topic: str) -> dict[str, Any]:
    return {
        "id": "stolen_vehicle",
        "name": "Stolen Vehicle",
        "priority": "high",
        "source": topic,
        "conditions": [{"field": "plate.normalized_text", "operator": "equals", "value": "STL001"}],
        "notify": ["sms"],
        "message_template": "STOLEN {plate.normalized_text} at {camera_id}",
    }


def dead_letters(client: redis.Redis) -> dict[str, DeadLetter]:
    return {letter.channel: letter for letter in DeadLetterStore(client)}


def test_an_sms_refused_with_400_falls_back_to_email_once(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    twilio: TwilioServer,
    smtp: SmtpServer,
) -> None:
    """A 400 from Twilio: one dead letter on sms naming the email copy, one mail sent."""
    twilio.fail_next(*[REFUSED] * 5)
    config = write_config(notifications(twilio, smtp, sms="email"), [sms_rule(topic)])
    metrics_port = free_port()
    stack.worker(config, queues=",".join(QUEUES), WORKER_METRICS_PORT=str(metrics_port))
    stack.bridge(config)
    PlateProducer(kafka, registry.url, topic).send(plate_event("STL001", camera="gate-7"))

    wait_until(lambda: smtp.deliveries_to(ON_CALL) >= 1, timeout=DEADLINE, message="the mail")
    wait_until(lambda: drained(redis_client, QUEUES), timeout=DEADLINE, message="drained")
    assert smtp.deliveries_to(ON_CALL) == 1
    (mail,) = smtp.mail
    assert "STOLEN STL001 at gate-7" in mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert len(twilio.attempts) == 1 and twilio.messages == []  # permanent: tried once
    letters = dead_letters(redis_client)
    assert set(letters) == {"sms"}
    letter = letters["sms"]
    assert letter.reason == "client_error"
    assert letter.fallback_channel == "email"
    assert letter.fallback_id is not None
    assert redis_client.exists(f"klaxon:sent:{letter.fallback_id}")
    metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    assert 'klaxon_fallbacks_total{channel="sms",fallback="email"} 1.0' in metrics


def test_two_channels_falling_back_to_each_other_never_loop(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    twilio: TwilioServer,
    smtp: SmtpServer,
) -> None:
    """sms -> email -> sms, both refusing: two dead letters, the copy's naming no fallback."""
    twilio.fail_next(*[REFUSED] * 5)
    smtp.fail_data("554 5.0.0 refused", times=5)
    config = write_config(notifications(twilio, smtp, sms="email", email="sms"), [sms_rule(topic)])
    stack.worker(config, queues=",".join(QUEUES))
    stack.bridge(config)
    PlateProducer(kafka, registry.url, topic).send(plate_event("STL001"))

    wait_until(
        lambda: len(dead_letters(redis_client)) == 2, timeout=DEADLINE, message="two dead letters"
    )
    wait_until(lambda: drained(redis_client, QUEUES), timeout=DEADLINE, message="drained")
    letters = dead_letters(redis_client)
    assert letters["sms"].fallback_channel == "email"
    copy = letters["email"]
    assert copy.id == letters["sms"].fallback_id
    assert copy.notification["fallback_of"] == letters["sms"].id
    assert copy.fallback_channel is None  # the copy went no further
    assert len(twilio.attempts) == 1  # sms was tried once, never again through email's fallback
    assert smtp.data_attempts == 1
    assert redis_client.hlen("klaxon:dead") == 2
    assert json.loads(redis_client.hget("klaxon:dead", copy.id) or "{}")["channel"] == "email"
