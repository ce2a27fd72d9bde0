"""No secret in any output of a worker with every logger at DEBUG, on success and failure.

The worker runs with root, urllib3, requests, twilio, celery, kombu and billiard at DEBUG
and the debug prints of http.client and smtplib on. Every channel fails once (retried),
then delivers, and a second event fails permanently (dead letters). Then every byte the
worker and the bridge wrote is searched for each secret and each form it can leak in.
"""

from __future__ import annotations

import base64
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import Stack
from tests.support.http_sink import Answer, HttpSink
from tests.support.kafka import PlateProducer, plate_event
from tests.support.processes import ManagedProcess
from tests.support.queues import drained
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.slack_server import SlackServer
from tests.support.smtp_server import SmtpServer
from tests.support.twilio_server import (
    ACCOUNT_SID,
    AUTH_FAILED,
    SERVER_ERROR,
    TwilioServer,
)
from tests.support.wait import wait_until

QUEUES = "notify.email,notify.slack,notify.webhook,notify.sms"
CHANNELS = ["email", "slack", "webhook", "sms"]
SMTP_USER = "alerts@example.com"
RECIPIENT = "security@example.com"
HOOK_USER = "klaxon-hook"
TO_NUMBER = "+15559876543"
DEADLINE = 90.0


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class Secrets:
    """Fresh credentials: two from the worker's environment, the rest written in the file."""

    smtp_password: str  # ${SMTP_PASSWORD}
    twilio_token: str  # ${TWILIO_AUTH_TOKEN}
    slack_path: str  # in the file: the webhook URL's path is its credential
    hook_password: str  # in the file: basic auth
    hook_api_key: str  # in the file: an X-Api-Key header
    signing_secret: str  # in the file

    @classmethod
    def fresh(cls) -> Secrets:
        def token() -> str:
            return secrets.token_hex(12)

        return cls(
            smtp_password=f"smtp-pw-{token()}",
            twilio_token=f"twtok{token()}",
            slack_path=f"/services/T{token()[:9].upper()}/B{token()[:9].upper()}/{token()}",
            hook_password=f"hookpw-{token()}",
            hook_api_key=f"apikey-{token()}",
            signing_secret=f"whsec_{b64(token())}",
        )

    def forms(self, slack_url: str) -> dict[str, str]:
        """Each secret as it could leak: raw, its distinctive parts, the base64 protocols carry."""
        return {
            "smtp password": self.smtp_password,
            "smtp AUTH PLAIN": b64(f"\0{SMTP_USER}\0{self.smtp_password}"),
            "twilio token": self.twilio_token,
            "twilio basic auth": b64(f"{ACCOUNT_SID}:{self.twilio_token}"),
            "slack webhook url": slack_url,
            "slack webhook path": self.slack_path,
            "slack webhook key": self.slack_path.rsplit("/", 1)[1],
            "webhook password": self.hook_password,
            "webhook basic auth": b64(f"{HOOK_USER}:{self.hook_password}"),
            "webhook api key": self.hook_api_key,
            "webhook signing secret": self.signing_secret,
        }


@dataclass
class Receivers:
    smtp: SmtpServer
    slack: SlackServer
    twilio: TwilioServer
    hook: HttpSink
    secrets: Secrets

    def notifications(self) -> dict[str, Any]:
        fast_retry = {"max_retries": 3, "backoff_seconds": 0.2, "backoff_max_seconds": 1}
        return {
            "email": {
                "smtp_host": self.smtp.host,
                "smtp_port": self.smtp.port,
                "security": "none",
                "username": SMTP_USER,
                "password": "${SMTP_PASSWORD}",
                "from_address": SMTP_USER,
                "recipients": [RECIPIENT],
                "retry": fast_retry,
            },
            "slack": {"webhook_url": self.slack.webhook_url, "retry": fast_retry},
            "webhook": {
                "url": self.hook.url("/hook"),
                "headers": {"X-Api-Key": self.secrets.hook_api_key},
                "auth": {
                    "type": "basic",
                    "username": HOOK_USER,
                    "password": self.secrets.hook_password,
                },
                "signing_secret": self.secrets.signing_secret,
                "retry": fast_retry,
            },
            "sms": {
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": "${TWILIO_AUTH_TOKEN}",
                "from_number": "+15551234567",
                "to_numbers": [TO_NUMBER],
                "api_base_url": self.twilio.base_url,
                "retry": fast_retry,
            },
        }

    def delivered(self) -> dict[str, int]:
        return {
            "email": self.smtp.deliveries_to(RECIPIENT),
            "slack": sum(1 for r in self.slack.received if r.path == self.slack.path),
            "webhook": len(self.hook.requests("/hook")),
            "sms": self.twilio.delivered()[TO_NUMBER],
        }


@pytest.fixture
def receivers(sink: HttpSink) -> Iterator[Receivers]:
    chosen = Secrets.fresh()
    smtp = SmtpServer("plain", user=(SMTP_USER, chosen.smtp_password))
    slack = SlackServer(path=chosen.slack_path)
    twilio = TwilioServer(auth_token=chosen.twilio_token)
    yield Receivers(smtp, slack, twilio, sink, chosen)
    twilio.close()
    slack.close()
    smtp.close()


def debug_worker(stack: Stack, config: Path, **env: str) -> ManagedProcess:
    """A prefork worker through tests/support/debug_worker.py: every logger at DEBUG."""
    name = f"debug-worker-{uuid.uuid4().hex[:6]}"
    argv = [
        sys.executable,
        "-m",
        "tests.support.debug_worker",
        "-A",
        "tasks",
        "worker",
        "-Q",
        QUEUES,
        "-c",
        "2",
        "-n",
        f"{name}@%h",
        "-E",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "DEBUG",
    ]
    process = ManagedProcess(name, argv, stack.env(config, **env), stack.log_dir).start()
    stack.started.append(process)
    process.wait_for_log(" ready.", timeout=60)
    return process


def test_no_secret_in_any_output_of_a_debug_worker_or_bridge(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    receivers: Receivers,
) -> None:
    """Sends that fail, retry, succeed and dead-letter log nothing secret at DEBUG, anywhere."""
    rule = {
        "id": "watch",
        "name": "Watchlist",
        "source": topic,
        "conditions": [
            {"field": "plate.normalized_text", "operator": "in_list", "value": ["RETRY1", "DEAD1"]}
        ],
        "notify": CHANNELS,
        "message_template": "plate {plate.normalized_text}",
    }
    config = write_config(receivers.notifications(), [rule])
    worker = debug_worker(
        stack,
        config,
        SMTP_PASSWORD=receivers.secrets.smtp_password,
        TWILIO_AUTH_TOKEN=receivers.secrets.twilio_token,
    )
    bridge = stack.bridge(config, "--verbose")
    producer = PlateProducer(kafka, registry.url, topic)

    # 1. Every channel fails once (retried), then delivers.
    receivers.slack.fail("rollup_error")
    receivers.hook.script("/hook", Answer(500, "down"))
    receivers.smtp.fail_data("451 4.3.0 try again later")
    receivers.twilio.fail(TO_NUMBER, SERVER_ERROR)
    producer.send(plate_event("RETRY1"))
    wait_until(
        lambda: receivers.delivered() == {"email": 1, "slack": 2, "webhook": 2, "sms": 1},
        timeout=DEADLINE,
        message=lambda: f"each channel to fail once then deliver: {receivers.delivered()}",
    )

    # 2. Every channel fails for good: four dead letters.
    receivers.slack.fail("invalid_token")
    receivers.hook.script("/hook", Answer(401, "who are you"))
    receivers.smtp.fail_data("554 5.7.1 rejected")
    receivers.twilio.fail(TO_NUMBER, AUTH_FAILED)
    producer.send(plate_event("DEAD1"))
    wait_until(
        lambda: redis_client.hlen("klaxon:dead") == 4, timeout=DEADLINE, message="4 dead letters"
    )
    wait_until(
        lambda: drained(redis_client, tuple(QUEUES.split(","))),
        timeout=DEADLINE,
        message="queues drained",
    )

    # The secrets were in use: each receiver saw them, so a leak had every chance.
    (first_hook, *_) = receivers.hook.requests("/hook")
    expected_basic = b64(f"{HOOK_USER}:{receivers.secrets.hook_password}")
    assert first_hook.header("Authorization") == f"Basic {expected_basic}"
    assert first_hook.header("X-Api-Key") == receivers.secrets.hook_api_key
    assert first_hook.header("webhook-signature")
    assert receivers.smtp.auth_failures == 0

    outputs = {"worker": worker.log(), "bridge": bridge.log()}
    # The output is the one asked for: DEBUG records of urllib3, twilio and smtplib's prints.
    assert "Starting new HTTP connection" in outputs["worker"]  # urllib3 at DEBUG
    assert "send:" in outputs["worker"]  # smtplib's and http.client's debug prints
    assert "-- BEGIN Twilio API Request --" in outputs["worker"]
    leaks = [
        (what, where)
        for what, secret in receivers.secrets.forms(receivers.slack.webhook_url).items()
        for where, text in outputs.items()
        if secret in text
    ]
    assert leaks == [], f"secrets in the output: {leaks}"
