"""Delivery end to end: four channels, retries, dead letters, crashes of workers and bridges,
and Flower, with real processes against real local servers.

Every count is taken at the receivers (SMTP, Slack, webhook and Twilio doubles); every wait
has a deadline. "Nothing more will arrive" is shown by the queues being drained: no message
in any ``notify.*`` list, none held unacknowledged (kombu's ``unacked`` hash) and no retry
waiting for its countdown (the delayed set).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import trustme

from tasks.delayed import DELAYED_KEY
from tests.conftest import Stack
from tests.support.http_sink import Answer, HttpSink, Received
from tests.support.kafka import PlateProducer, committed, plate_event
from tests.support.processes import ROOT, ManagedProcess
from tests.support.queues import drained
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.servers import free_port
from tests.support.slack_server import WEBHOOK_PATH, SlackServer
from tests.support.smtp_server import SmtpServer
from tests.support.twilio_server import ACCOUNT_SID, TwilioServer, invalid_number
from tests.support.wait import wait_until

QUEUES = ("notify.email", "notify.slack", "notify.webhook", "notify.sms")
ALL_CHANNELS = ["email", "slack", "webhook", "sms"]
TEMPLATE = "WATCHLIST {plate.normalized_text} at {camera_id} ({plate.region}, {vehicle.color})"
SMTP_USER = "alpr-alerts@example.com"
RECIPIENTS = ["security@example.com", "night-shift@example.com"]
FROM_NUMBER = "+15551234567"
TO_NUMBERS = ["+15559876543", "+15550001111"]
DEADLINE = 60.0


# -- receivers and config ---------------------------------------------------------------


@dataclass(frozen=True)
class Secrets:
    """Credentials that only the worker's environment holds."""

    smtp_password: str
    twilio_token: str
    webhook_token: str

    @classmethod
    def fresh(cls) -> Secrets:
        return cls(
            smtp_password=f"smtp-pw-{uuid.uuid4().hex}",
            twilio_token=f"twilio-tok-{uuid.uuid4().hex}",
            webhook_token=f"hook-tok-{uuid.uuid4().hex}",
        )

    def env(self, slack_url: str) -> dict[str, str]:
        return {
            "SMTP_PASSWORD": self.smtp_password,
            "TWILIO_AUTH_TOKEN": self.twilio_token,
            "WEBHOOK_TOKEN": self.webhook_token,
            "SLACK_WEBHOOK_URL": slack_url,
        }

    def forms(self) -> dict[str, str]:
        """Each secret as it could leak: raw, and as the base64 the protocols carry."""
        return {
            "smtp password": self.smtp_password,
            "smtp AUTH PLAIN": b64(f"\0{SMTP_USER}\0{self.smtp_password}"),
            "twilio token": self.twilio_token,
            "twilio basic auth": b64(f"{ACCOUNT_SID}:{self.twilio_token}"),
            "webhook token": self.webhook_token,
            # The Slack webhook URL's path is its credential.
            "slack webhook path": WEBHOOK_PATH.rsplit("/", 2)[-1],
        }


@dataclass
class Receivers:
    smtp: SmtpServer
    slack: SlackServer
    twilio: TwilioServer
    hook: HttpSink
    secrets: Secrets
    ca_file: str

    def notifications(self) -> dict[str, Any]:
        """All four channels, configured as in the seed, secrets as ${VARS}."""
        return {
            "email": {
                "enabled": True,
                "smtp_host": self.smtp.host,
                "smtp_port": self.smtp.port,
                "use_tls": True,  # STARTTLS on a port other than 465, as the seed's 587
                "username": SMTP_USER,
                "password": "${SMTP_PASSWORD}",
                "from_address": f"ALPR Alerts <{SMTP_USER}>",
                "recipients": RECIPIENTS,
                "ca_file": self.ca_file,
                "timeout_seconds": 10,
            },
            "slack": {
                "enabled": True,
                "webhook_url": "${SLACK_WEBHOOK_URL}",
                "channel": "#alpr-alerts",
            },
            "webhook": {
                "enabled": True,
                "url": self.hook.url("/hook"),
                "auth": {"type": "bearer", "token": "${WEBHOOK_TOKEN}"},
            },
            "sms": {
                "enabled": True,
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": "${TWILIO_AUTH_TOKEN}",
                "from_number": FROM_NUMBER,
                "to_numbers": TO_NUMBERS,
                "api_base_url": self.twilio.base_url,
            },
        }

    def worker_env(self) -> dict[str, str]:
        return self.secrets.env(self.slack.webhook_url)

    def counts(self) -> dict[str, Any]:
        """What each receiver accepted: per email recipient, Slack, webhook, per number."""
        return {
            "email": {r: self.smtp.deliveries_to(r) for r in RECIPIENTS},
            "slack": len(self.slack.posts()),
            "webhook": len(self.hook.requests("/hook")),
            "sms": {n: self.twilio.delivered()[n] for n in TO_NUMBERS},
        }


ONCE_EACH = {
    "email": dict.fromkeys(RECIPIENTS, 1),
    "slack": 1,
    "webhook": 1,
    "sms": dict.fromkeys(TO_NUMBERS, 1),
}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def receivers(ca_file: str, server_tls: ssl.SSLContext, sink: HttpSink) -> Iterator[Receivers]:
    secrets = Secrets.fresh()
    smtp = SmtpServer("starttls", server_tls, user=(SMTP_USER, secrets.smtp_password))
    slack = SlackServer()
    twilio = TwilioServer(auth_token=secrets.twilio_token)
    yield Receivers(smtp, slack, twilio, sink, secrets, ca_file)
    twilio.close()
    slack.close()
    smtp.close()


def watchlist_rule(
    topic: str, plates: list[str], channels: list[str], cooldown: int = 300
) -> dict[str, Any]:
    return {
        "id": "watchlist_plate",
        "name": "Watchlist Plate Detected",
        "priority": "high",
        "source": topic,
        "conditions": [{"field": "plate.normalized_text", "operator": "in_list", "value": plates}],
        "notify": channels,
        "rate_limit": {
            "enabled": True,
            "cooldown_seconds": cooldown,
            "dedup_key": "plate.normalized_text",
        },
        "message_template": TEMPLATE,
    }


def webhook_config(
    write_config: Callable[..., Path],
    sink: HttpSink,
    topic: str,
    plates: list[str],
    **webhook: Any,
) -> Path:
    return write_config(
        {"webhook": {"url": sink.url("/hook"), **webhook}},
        [watchlist_rule(topic, plates, ["webhook"])],
    )


# -- observing the system ---------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def wait_drained(client: redis.Redis) -> None:
    wait_until(
        lambda: drained(client, QUEUES),
        timeout=DEADLINE,
        message=lambda: f"queues drained: {queue_state(client)}",
    )


def queue_state(client: redis.Redis) -> dict[str, int]:
    return {
        **{q: int(client.llen(q)) for q in QUEUES},
        "unacked": int(client.hlen("unacked")),
        "delayed": int(client.zcard(DELAYED_KEY)),
    }


def plate_of(request: Received) -> str:
    return str(request.json()["event"]["plate"]["normalized_text"])


def klaxon(redis_url: str, *args: str) -> str:
    """Run ``python -m klaxon ARGS`` as an operator would; return its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "klaxon", *args],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"klaxon {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def dead_list(redis_url: str) -> list[dict[str, Any]]:
    out = klaxon(redis_url, "dead", "list", "--json")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def dead_count(client: redis.Redis) -> int:
    return int(client.hlen("klaxon:dead"))


def sent_marked(client: redis.Redis, notification_id: str) -> bool:
    return bool(client.exists(f"klaxon:sent:{notification_id}"))


def redis_dump(client: redis.Redis) -> str:
    """Every key and value in the database, as text (to search for secrets)."""
    parts: list[str] = []
    for key in client.scan_iter(count=500):
        kind = client.type(key).decode()  # type: ignore[union-attr]
        value: Any
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = kind
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts)


# -- 1. the seed: one plate, four channels --------------------------------------------------


def test_watchlist_plate_reaches_all_four_channels_once_each(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    receivers: Receivers,
) -> None:
    """A watchlist plate: one mail per recipient, a Slack post, a webhook, one SMS per number."""
    config = write_config(
        receivers.notifications(), [watchlist_rule(topic, ["ABC123", "XYZ789"], ALL_CHANNELS)]
    )
    stack.worker(config, queues=",".join(QUEUES), **receivers.worker_env())
    stack.bridge(config)
    event = plate_event("ABC123", camera="gate-north")
    PlateProducer(kafka, registry.url, topic).send(event)

    wait_until(
        lambda: receivers.counts() == ONCE_EACH,
        timeout=DEADLINE,
        message=lambda: f"one delivery per recipient, got {receivers.counts()}",
    )
    wait_drained(redis_client)
    assert receivers.counts() == ONCE_EACH
    rendered = "WATCHLIST ABC123 at gate-north (US-CA, blue)"

    (mail,) = receivers.smtp.mail  # one transaction carrying both recipients
    assert sorted(mail.rcpt_tos) == sorted(RECIPIENTS)
    assert mail.authenticated_as == SMTP_USER  # AUTH, after the STARTTLS the server requires
    assert rendered in mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert receivers.smtp.auth_failures == 0

    (slack_post,) = receivers.slack.posts()
    assert rendered in slack_post["text"]
    assert slack_post["channel"] == "#alpr-alerts"

    (hook,) = receivers.hook.requests("/hook")
    assert hook.json()["message"] == rendered
    assert hook.json()["event"]["event_id"] == event["event_id"]
    assert hook.header("Authorization") == f"Bearer {receivers.secrets.webhook_token}"

    assert sorted(m["To"] for m in receivers.twilio.messages) == sorted(TO_NUMBERS)
    assert {m["Body"] for m in receivers.twilio.messages} == {rendered}
    assert {m["From"] for m in receivers.twilio.messages} == {FROM_NUMBER}
    assert dead_count(redis_client) == 0


# -- 2. transient failures are retried with the channel's backoff ---------------------------


def test_sink_failing_twice_then_recovering_gets_it_exactly_once(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """Two 500s then a 200: three requests, one Idempotency-Key, one success, 0.2 s/0.4 s apart."""
    config = webhook_config(
        write_config, sink, topic, ["ABC123"], retry={"max_retries": 3, "backoff_seconds": 0.2}
    )
    sink.script("/hook", Answer(500, "boom"), Answer(500, "boom"))
    stack.worker(config)
    stack.bridge(config)
    PlateProducer(kafka, registry.url, topic).send(plate_event("ABC123"))

    sink.wait_for(3, "/hook", timeout=DEADLINE)
    wait_drained(redis_client)
    posts = sink.requests("/hook")
    assert len(posts) == 3  # two scripted 500s, then the default 200
    (key,) = {p.header("Idempotency-Key") for p in posts}
    assert key is not None
    assert sent_marked(redis_client, key)  # the third attempt succeeded
    assert dead_count(redis_client) == 0
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(posts)]
    assert gaps[0] >= 0.2 - 0.05 and gaps[1] >= 0.4 - 0.05, gaps


# -- 3. dead letters ----------------------------------------------------------------------


def test_client_error_is_dead_lettered_then_requeued_once(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    redis_url: str,
) -> None:
    """A 400 dead-letters (client_error, 1 attempt); requeued after the fix, it arrives once."""
    config = webhook_config(write_config, sink, topic, ["ABC123"])
    sink.script("/hook", Answer(400, "bad request"))
    stack.worker(config)
    stack.bridge(config)
    PlateProducer(kafka, registry.url, topic).send(plate_event("ABC123"))

    (refused,) = sink.wait_for(1, "/hook", timeout=DEADLINE)
    wait_until(lambda: dead_count(redis_client) == 1, timeout=DEADLINE, message="a dead letter")
    wait_drained(redis_client)
    (letter,) = dead_list(redis_url)
    assert letter["id"] == refused.header("Idempotency-Key")
    assert letter["channel"] == "webhook"
    assert letter["rule_id"] == "watchlist_plate"
    assert letter["reason"] == "client_error"
    assert letter["attempts"] == 1
    assert "answered 400" in letter["error"]
    assert letter["message"] == refused.json()["message"]
    assert not sent_marked(redis_client, letter["id"])

    # The receiver is fixed: the script held a single 400, the sink now answers 200.
    assert "requeued 1 notification(s)" in klaxon(redis_url, "dead", "requeue", letter["id"])
    sink.wait_for(2, "/hook", timeout=DEADLINE)
    wait_until(
        lambda: sent_marked(redis_client, letter["id"]),
        timeout=DEADLINE,
        message="the requeued notification marked sent",
    )
    wait_drained(redis_client)
    posts = sink.requests("/hook")
    assert len(posts) == 2
    assert {p.header("Idempotency-Key") for p in posts} == {letter["id"]}
    assert posts[1].body == refused.body  # the same notification, not a re-render
    assert dead_list(redis_url) == []
    assert "no dead letters" in klaxon(redis_url, "dead", "list")


def test_retries_exhausted_leave_a_server_error_dead_letter_with_three_attempts(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    redis_url: str,
) -> None:
    """Always 503, max_retries 2: three requests, then a server_error dead letter of 3 attempts."""
    config = webhook_config(
        write_config, sink, topic, ["ABC123"], retry={"max_retries": 2, "backoff_seconds": 0.1}
    )
    sink.handler = lambda _request: Answer(503, "unavailable")
    stack.worker(config)
    stack.bridge(config)
    PlateProducer(kafka, registry.url, topic).send(plate_event("ABC123"))

    wait_until(lambda: dead_count(redis_client) == 1, timeout=DEADLINE, message="a dead letter")
    wait_drained(redis_client)
    posts = sink.requests("/hook")
    assert len(posts) == 3
    (letter,) = dead_list(redis_url)
    assert {p.header("Idempotency-Key") for p in posts} == {letter["id"]}
    assert letter["channel"] == "webhook"
    assert letter["reason"] == "server_error"
    assert letter["attempts"] == 3
    assert "answered 503" in letter["error"]
    assert letter["first_failure_at"] <= letter["last_failure_at"]


# -- 4. a worker killed in the middle of a batch -------------------------------------------

KILL_PLATES = [f"KIL{n:03d}" for n in range(20)]
VISIBILITY = 5  # seconds; the same for both workers and the bridge


class HeldAnswers:
    """A sink handler: answers the first ``answer_first`` requests at once, then holds every
    later one unanswered until ``release()``, so a test knows exactly which sends are in flight.
    """

    def __init__(self, answer_first: int) -> None:
        self.answer_first = answer_first
        self.answered = 0
        self.held: list[Received] = []
        self.lock = threading.Lock()
        self.released = threading.Event()

    def __call__(self, request: Received) -> Answer:
        with self.lock:
            if self.answered < self.answer_first or self.released.is_set():
                self.answered += 1
                return Answer()
            self.held.append(request)
        self.released.wait(DEADLINE)
        return Answer()

    def held_keys(self) -> set[str]:
        with self.lock:
            return {str(r.header("Idempotency-Key")) for r in self.held}

    def release(self) -> None:
        self.released.set()


def test_worker_killed_mid_batch_delivers_every_notification_once_per_key(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
) -> None:
    """SIGKILL of a busy worker: all 20 arrive once per Idempotency-Key, in-flight ones twice."""
    config = webhook_config(
        write_config,
        sink,
        topic,
        KILL_PLATES,
        timeout_seconds=3.5,
        retry={"max_retries": 3, "backoff_seconds": 0.5},
    )
    held = HeldAnswers(answer_first=4)
    sink.handler = held
    # The lease (above the channel's 3.5 s timeout) expires before kombu hands the
    # killed worker's messages back, so the redelivery is not held off by it.
    env = {"KLAXON_VISIBILITY_TIMEOUT": str(VISIBILITY), "KLAXON_LEASE_SECONDS": "4"}
    doomed = stack.worker(config, pool="prefork", concurrency=2, **env)
    stack.bridge(config, **env)
    PlateProducer(kafka, registry.url, topic).send(
        *(plate_event(plate, camera=f"cam-{n % 4}") for n, plate in enumerate(KILL_PLATES))
    )

    def two_in_flight() -> set[str]:
        keys = held.held_keys()
        return keys if len(keys) == 2 else set()

    # Two rounds answered, then both worker processes wait on an unanswered send: kill now.
    in_flight = wait_until(
        two_in_flight,
        timeout=DEADLINE,
        message=lambda: f"two sends in flight, got {len(sink.requests('/hook'))} answered",
    )
    kill_started = time.time()
    doomed.kill()
    kill_done = time.time()
    held.release()  # the sends in flight are answered, to a worker that is gone
    before_kill = sink.requests("/hook")
    assert len(before_kill) < len(KILL_PLATES)
    # The killed worker's deliveries stay in kombu's unacked hash...
    assert redis_client.hlen("unacked") >= 1
    # ...until they are older than the visibility timeout; a worker restores stale ones
    # when it starts consuming, and every few seconds after (contract.celery_app).
    wait_until(
        lambda: stale_unacked(redis_client),
        timeout=DEADLINE,
        message="the killed worker's messages to pass the visibility timeout",
    )
    stack.worker(config, concurrency=8, **env)

    wait_until(
        lambda: {plate_of(r) for r in sink.requests("/hook")} == set(KILL_PLATES),
        timeout=DEADLINE,
        message=lambda: f"all plates, got {len(sink.requests('/hook'))}",
    )
    wait_drained(redis_client)

    by_key: dict[str, list[Received]] = defaultdict(list)
    for request in sink.requests("/hook"):
        by_key[str(request.header("Idempotency-Key"))].append(request)
    # Exactly once per Idempotency-Key: one key per plate, every plate present.
    assert sorted(plate_of(rs[0]) for rs in by_key.values()) == sorted(KILL_PLATES)
    assert all({plate_of(r) for r in rs} == {plate_of(rs[0])} for rs in by_key.values())
    assert all(sent_marked(redis_client, key) for key in by_key)
    # The sends unanswered at the kill, and only those, are sent again, once, after it.
    resent = {k for k, rs in by_key.items() if len(rs) > 1}
    assert resent == in_flight, {k: [r.at for r in by_key[k]] for k in resent | in_flight}
    for key in resent:
        before, after = [r for r in by_key[key] if r.at < kill_started], by_key[key][-1]
        assert by_key[key] == [*before, after] and kill_done < after.at
    assert dead_count(redis_client) == 0


def stale_unacked(client: redis.Redis) -> bool:
    """Every unacknowledged delivery is older than the visibility timeout (with a margin)."""
    entries: list[tuple[bytes, float]] = client.zrange("unacked_index", 0, -1, withscores=True)  # type: ignore[assignment]
    return bool(entries) and all(time.time() - score > VISIBILITY + 0.5 for _, score in entries)


# -- 5. Flower -----------------------------------------------------------------------------


def start_flower(
    stack: Stack, config: Path, argv: list[str], **env: str
) -> tuple[ManagedProcess, str]:
    port = free_port()
    process = ManagedProcess(
        "flower",
        [sys.executable, "-m", *argv, "--address=127.0.0.1", f"--port={port}"],
        stack.env(config, **env),
        stack.log_dir,
    ).start()
    stack.started.append(process)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not process.alive:
            raise AssertionError(f"flower exited:\n{process.log()[-3000:]}")
        try:
            return requests.get(f"{base}/healthcheck", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(up, timeout=DEADLINE, interval=0.2, message="flower's /healthcheck")
    return process, base


def wait_for_flower_events(base: str, redis_url: str) -> None:
    """Flower only knows tasks whose events it saw: send probe events until it shows one.

    (Workers run ``--without-heartbeat``, so they send no worker-online event to wait on.)
    """
    from contract.celery_app import make_app
    from contract.settings import Settings

    app = make_app(Settings(redis_url=redis_url))

    def probe_seen() -> bool:
        with (
            app.connection_for_write() as conn,
            app.events.Dispatcher(conn, hostname="test-probe@localhost") as dispatcher,
        ):
            dispatcher.send("task-sent", uuid=f"probe-{uuid.uuid4().hex}", name=PROBE_TASK)
        known = requests.get(f"{base}/api/tasks", params={"taskname": PROBE_TASK}, timeout=5)
        assert known.status_code == 200, known.text
        return bool(known.json())

    try:
        wait_until(probe_seen, timeout=DEADLINE, interval=0.3, message="flower to see events")
    finally:
        app.close()


PROBE_TASK = "test.flower_probe"


def test_failed_send_shows_in_flower_and_no_secret_leaks_anywhere(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    redis_url: str,
    receivers: Receivers,
) -> None:
    """Permanent failures are FAILURE in Flower; no secret in Flower, logs, dead letters, Redis."""
    config = write_config(
        receivers.notifications(), [watchlist_rule(topic, ["ABC123"], ALL_CHANNELS)]
    )
    flower, base = start_flower(
        stack, config, ["celery", "-A", "tasks", "flower"], FLOWER_UNAUTHENTICATED_API="true"
    )
    wait_for_flower_events(base, redis_url)
    worker = stack.worker(config, queues=",".join(QUEUES), **receivers.worker_env())
    bridge = stack.bridge(config)
    receivers.hook.script("/hook", Answer(400, "bad request"))
    receivers.slack.fail("channel_not_found")
    receivers.smtp.fail_data("554 5.7.1 Message rejected")
    for number in TO_NUMBERS:
        receivers.twilio.fail(number, invalid_number(number))
    PlateProducer(kafka, registry.url, topic).send(plate_event("ABC123"))

    names = {f"notify.{channel}" for channel in ALL_CHANNELS}

    def failures() -> dict[str, Any]:
        found = requests.get(f"{base}/api/tasks", params={"state": "FAILURE"}, timeout=5)
        assert found.status_code == 200, found.text
        tasks: dict[str, Any] = found.json()
        return tasks if {t["name"] for t in tasks.values()} >= names else {}

    failed = wait_until(
        failures,
        timeout=DEADLINE,
        interval=0.2,
        message="FAILURE of every channel's task in flower",
    )
    wait_until(lambda: dead_count(redis_client) == 4, timeout=DEADLINE, message="4 dead letters")
    wait_drained(redis_client)
    (hook_id,) = [task_id for task_id, t in failed.items() if t["name"] == "notify.webhook"]
    assert failed[hook_id]["state"] == "FAILURE"
    assert "answered 400" in failed[hook_id]["exception"]

    # The secrets were used: the receivers authenticated every send.
    (hook,) = receivers.hook.requests("/hook")
    assert hook.header("Authorization") == f"Bearer {receivers.secrets.webhook_token}"
    assert receivers.smtp.auth_failures == 0 and receivers.smtp.data_attempts == 1
    assert len(receivers.twilio.attempts) == 2 and receivers.slack.posts()
    dead = {
        json.loads(v)["channel"]: json.loads(v)
        for v in redis_client.hgetall("klaxon:dead").values()
    }
    assert dead["sms"]["reason"] == "invalid_recipient"  # not "auth": the token was right

    outputs = {
        "flower /api/tasks": requests.get(f"{base}/api/tasks", timeout=5).text,
        "flower /api/workers": requests.get(
            f"{base}/api/workers", params={"refresh": "true"}, timeout=15
        ).text,
        **{
            f"flower /api/task/info/{task_id}": requests.get(
                f"{base}/api/task/info/{task_id}", timeout=5
            ).text
            for task_id in failed
        },
        "worker log": worker.log(),
        "bridge log": bridge.log(),
        "flower log": flower.log(),
        "HGETALL klaxon:dead": repr(redis_client.hgetall("klaxon:dead")),
        "redis": redis_dump(redis_client),
    }
    assert "answered 400" in outputs[f"flower /api/task/info/{hook_id}"]
    leaks = [
        (what, where)
        for what, secret in receivers.secrets.forms().items()
        for where, text in outputs.items()
        if secret in text
    ]
    assert leaks == []


def test_klaxon_flower_with_basic_auth_refuses_the_api_without_credentials(
    stack: Stack,
    write_config: Callable[..., Path],
    sink: HttpSink,
    topic: str,
) -> None:
    """`klaxon flower` with FLOWER_BASIC_AUTH: API 401 without or with bad credentials, else 200."""
    config = webhook_config(write_config, sink, topic, ["ABC123"])
    _, base = start_flower(
        stack,
        config,
        ["klaxon", "flower"],
        FLOWER_BASIC_AUTH="ops:hunter2-flower",
        FLOWER_UNAUTHENTICATED_API="false",
    )
    api = f"{base}/api/tasks"
    assert requests.get(api, timeout=5).status_code == 401
    assert requests.get(api, auth=("ops", "wrong"), timeout=5).status_code == 401
    allowed = requests.get(api, auth=("ops", "hunter2-flower"), timeout=5)
    assert allowed.status_code == 200
    assert allowed.json() == {}


# -- 6. the bridge killed between enqueue and commit ---------------------------------------


def test_bridge_killed_before_commit_delivers_all_four_channels_once(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    topic: str,
    write_config: Callable[..., Path],
    redis_client: redis.Redis,
    receivers: Receivers,
) -> None:
    """Bridge SIGKILLed before commit: after the replay, each recipient of 4 channels gets one."""
    config = write_config(
        receivers.notifications(), [watchlist_rule(topic, ["XYZ789"], ALL_CHANNELS)]
    )
    stack.worker(config, queues=",".join(QUEUES), **receivers.worker_env())
    crashing = stack.bridge(config, KLAXON_FAULT="crash_before_commit")
    PlateProducer(kafka, registry.url, topic).send(plate_event("XYZ789"), partition=1)
    assert crashing.wait(30) == -signal.SIGKILL
    assert committed(kafka, stack.group, topic) == {}

    stack.bridge(config)
    wait_until(
        lambda: committed(kafka, stack.group, topic).get(1) == 1,
        timeout=DEADLINE,
        message="the replayed offset committed",
    )
    wait_until(
        lambda: receivers.counts() == ONCE_EACH,
        timeout=DEADLINE,
        message=lambda: f"one delivery per recipient, got {receivers.counts()}",
    )
    wait_drained(redis_client)  # both copies of every task processed
    assert receivers.counts() == ONCE_EACH
    assert len(receivers.smtp.mail) == 1
    assert dead_count(redis_client) == 0


def test_an_sms_dead_letter_lists_only_the_numbers_still_owed_the_message(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    topic: str,
    write_config: Callable[..., Path],
    receivers: Receivers,
) -> None:
    """One invalid number of two: the other gets its SMS once; the dead letter names the bad one."""
    good, bad = TO_NUMBERS
    receivers.twilio.fail(bad, invalid_number(bad))
    config = write_config(
        {"sms": receivers.notifications()["sms"]}, [watchlist_rule(topic, ["ABC123"], ["sms"])]
    )
    stack.worker(config, queues="notify.sms", **receivers.worker_env())
    stack.bridge(config)
    PlateProducer(kafka, registry.url, topic).send(plate_event("ABC123"))

    redis_url = stack.base_env["REDIS_URL"]
    (letter,) = wait_until(lambda: dead_list(redis_url), timeout=DEADLINE, message="a dead letter")
    assert letter["channel"] == "sms" and letter["reason"] == "invalid_recipient"
    assert letter["recipients_left"] == [bad]
    assert receivers.twilio.delivered()[good] == 1
    assert receivers.twilio.delivered()[bad] == 0
