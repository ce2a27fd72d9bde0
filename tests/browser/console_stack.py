"""The whole of Klaxon on loopback for the console's browser tests.

Kafka and Redis are the session's; the bridge, a worker (webhook, ntfy and the sweep),
``klaxon beat`` (the sweep sends reminders), the recorder (outbox -> a SQLite history) and
``klaxon api`` (which serves the console) are real processes. Two receivers stand in for
the outside world: ``sink``, a webhook that accepts everything, and ``refusing``, an ntfy
server that answers 400 until ``accept()``, so its notifications dead-letter and a requeue
afterwards is delivered.

Rules (plates are chosen by prefix, so each test makes plates of its own with ``plate()``):

- ``stolen_plate``: plates ``ACK...``, acknowledgeable, a reminder every 2 s until acked,
  to the webhook (``sink``, path ``/hook``).
- ``refused_plate``: plates ``DEAD...``, to ntfy (``refusing``): dead letters.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from argon2 import PasswordHasher

from tests.conftest import Stack
from tests.support import yamlfile
from tests.support.databases import sqlite_url
from tests.support.http_sink import Answer, HttpSink, Received
from tests.support.kafka import PlateProducer, create_topics
from tests.support.processes import ManagedProcess
from tests.support.servers import free_port
from tests.support.wait import wait_until

ACK_RULE = "stolen_plate"
DEAD_RULE = "refused_plate"
ACK_PREFIX = "ACK"
DEAD_PREFIX = "DEAD"
REMINDER_GAP = "2s"
NTFY_TOPIC = "klaxon-console"
DEADLINE = 60.0


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: str  # "read" or "write"
    password: str


def console_users_env(users: list[ConsoleUser]) -> str:
    """KLAXON_CONSOLE_USERS: ``name:role:argon2id-hash`` entries, whitespace-separated."""
    hasher = PasswordHasher()
    return " ".join(f"{u.name}:{u.role}:{hasher.hash(u.password)}" for u in users)


class RefusingReceiver:
    """An ntfy server that refuses every publish with 400 until ``accept()`` is called."""

    def __init__(self) -> None:
        self._accepting = threading.Event()
        self._lock = threading.Lock()
        self._accepted: list[dict[str, Any]] = []
        self.sink = HttpSink(self._answer)

    def _answer(self, request: Received) -> Answer:
        if self._accepting.is_set():
            with self._lock:
                self._accepted.append(request.json())
            return Answer(200, {"id": uuid.uuid4().hex[:12], "event": "message"})
        return Answer(400, {"code": 40001, "http": 400, "error": "refused by the test"})

    def accepted(self) -> list[dict[str, Any]]:
        """The ntfy publishes (JSON bodies) answered 200, in order."""
        with self._lock:
            return list(self._accepted)

    def accept(self) -> None:
        self._accepting.set()

    def refuse(self) -> None:
        self._accepting.clear()

    @property
    def url(self) -> str:
        return self.sink.url("")

    def close(self) -> None:
        self.sink.close()


def plate(prefix: str) -> str:
    """A plate of this test's own that the rule for ``prefix`` matches."""
    return f"{prefix}{uuid.uuid4().hex[:6].upper()}"


def rules_file(directory: Path, topic: str, sink: HttpSink, refusing: RefusingReceiver) -> Path:
    path = directory / "console-rules.yaml"
    data = {
        "notifications": {
            "webhook": {"url": sink.url("/hook")},
            "ntfy": {
                "server_url": refusing.url,
                "topic": NTFY_TOPIC,
                "retry": {"max_retries": 0, "backoff_seconds": 0.1},
            },
        },
        "rules": [
            {
                "id": ACK_RULE,
                "name": "Stolen plate",
                "priority": "high",
                "source": topic,
                "acknowledge": True,
                "repeat": [REMINDER_GAP],
                "conditions": [
                    {"field": "plate.normalized_text", "operator": "regex", "value": "^ACK"}
                ],
                "notify": ["webhook"],
                "message_template": "{plate.normalized_text} at {camera_id}: alert {alert_id}"
                " ack: {ack_url}",
            },
            {
                "id": DEAD_RULE,
                "name": "Refused plate",
                "priority": "medium",
                "source": topic,
                "conditions": [
                    {"field": "plate.normalized_text", "operator": "regex", "value": "^DEAD"}
                ],
                "notify": ["ntfy"],
                "message_template": "{plate.normalized_text} at {camera_id}",
            },
        ],
    }
    path.write_text(yamlfile.dump(data))
    return path


@dataclass
class ConsoleStack:
    """What a browser test needs of the running stack; see the module docstring."""

    base_url: str
    users: dict[str, ConsoleUser]  # "alice" (write), "rob" (read)
    tokens: dict[str, str]  # API tokens by role: "read", "write"
    sink: HttpSink
    refusing: RefusingReceiver
    redis: redis.Redis
    topic: str
    database_url: str
    producer: PlateProducer
    secret: str  # KLAXON_CONSOLE_SECRET: signs sessions and ack links
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def url(self, path: str = "/") -> str:
        return f"{self.base_url}{path}"

    @staticmethod
    def ack_plate() -> str:
        """A new plate that ``stolen_plate`` (acknowledgeable, reminded) matches."""
        return plate(ACK_PREFIX)

    @staticmethod
    def dead_plate() -> str:
        """A new plate that ``refused_plate`` (ntfy, dead-lettered until accepted) matches."""
        return plate(DEAD_PREFIX)

    def produce(self, event: dict[str, Any]) -> None:
        """Send a plate event (tests.support.kafka.plate_event) to the bridge's topic."""
        self.producer.send(event)

    def api(self, path: str, role: str = "read", method: str = "GET", **kwargs: Any) -> Any:
        """Call ``/api/v1{path}`` with the role's token; the JSON answer (errors raise)."""
        response = httpx.request(
            method,
            self.url(f"/api/v1{path}"),
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=10,
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def timeline(self, alert_id: str) -> list[dict[str, Any]]:
        """The alert's history timeline (``GET /alerts/{id}``); empty until it is recorded."""
        try:
            detail: dict[str, Any] = self.api(f"/alerts/{alert_id}")
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:
                return []
            raise
        return list(detail["timeline"])

    def hook_posts(self, plate: str, transition: str | None = None) -> list[dict[str, Any]]:
        """Webhook bodies received for ``plate`` (of one transition, if given)."""
        bodies = [r.json() for r in self.sink.requests("/hook")]
        return [
            b
            for b in bodies
            if b["event"]["plate"]["normalized_text"] == plate
            and (transition is None or b["transition"] == transition)
        ]

    def wait_for_hook(
        self, plate: str, transition: str = "match", count: int = 1
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` webhook posts of ``transition`` arrived for ``plate``."""
        return wait_until(
            lambda: posts if len(posts := self.hook_posts(plate, transition)) >= count else None,
            timeout=DEADLINE,
            message=lambda: f"{count} {transition} post(s) for {plate}",
        )

    def wait_for_active_alert(self, alert_id: str) -> dict[str, Any]:
        """The alert as ``GET /api/v1/alerts/active`` shows it, once it does."""

        def shown() -> dict[str, Any] | None:
            alerts: list[dict[str, Any]] = self.api("/alerts/active")
            return next((a for a in alerts if a["id"] == alert_id), None)

        return wait_until(shown, timeout=DEADLINE, message=f"alert {alert_id} in /alerts/active")

    def wait_for_dead_letter(self, plate: str) -> dict[str, Any]:
        """The dead letter of ``plate``'s notification, as ``GET /api/v1/dead-letters`` lists it."""

        def listed() -> dict[str, Any] | None:
            letters: list[dict[str, Any]] = self.api("/dead-letters")["items"]
            return next((d for d in letters if plate in d["message"]), None)

        return wait_until(listed, timeout=DEADLINE, message=f"a dead letter for {plate}")


def start_console_stack(
    stack: Stack, work_dir: Path, kafka: str, registry_url: str
) -> ConsoleStack:
    """Start every process on ``stack`` and wait until the API answers ``/healthz``."""
    topic = f"plates-console-{uuid.uuid4().hex[:8]}"
    create_topics(kafka, topic)
    sink = HttpSink()
    refusing = RefusingReceiver()
    config = rules_file(work_dir, topic, sink, refusing)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    users = {
        "alice": ConsoleUser("alice", "write", f"alice-{secrets.token_urlsafe(9)}"),
        "rob": ConsoleUser("rob", "read", f"rob-{secrets.token_urlsafe(9)}"),
    }
    tokens = {"read": secrets.token_hex(16), "write": secrets.token_hex(16)}
    database_url = sqlite_url(work_dir)
    secret = secrets.token_urlsafe(32)
    # Every process: notifications link to the console, ack links are signed.
    stack.base_env.update(
        KLAXON_PUBLIC_URL=base_url,
        KLAXON_CONSOLE_SECRET=secret,
        KLAXON_ALERT_EVENTS_TOPIC=f"{topic}.alert-events",
        KLAXON_DATABASE_URL=database_url,
    )
    running = ConsoleStack(
        base_url=base_url,
        users=users,
        tokens=tokens,
        sink=sink,
        refusing=refusing,
        redis=redis.Redis.from_url(stack.base_env["REDIS_URL"]),
        topic=topic,
        database_url=database_url,
        producer=PlateProducer(kafka, registry_url, topic),
        secret=secret,
    )
    running.processes["worker"] = stack.worker(
        config, queues="notify.webhook,notify.ntfy,klaxon.sweep"
    )
    running.processes["bridge"] = stack.bridge(config)
    running.processes["beat"] = stack.process(
        config, "beat", "--interval", "1", "--schedule", str(work_dir / "beat-schedule")
    )
    running.processes["recorder"] = stack.process(
        config, "recorder", "--name", "console", KLAXON_RECORDER_PORT=str(free_port())
    )
    api = stack.process(
        config,
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        KLAXON_API_TOKENS=f"read:{tokens['read']},write:{tokens['write']}",
        KLAXON_CONSOLE_USERS=console_users_env(list(users.values())),
    )
    running.processes["api"] = api

    def healthy() -> bool:
        if not api.alive:
            raise AssertionError(f"klaxon api exited early:\n{api.log()[-3000:]}")
        try:
            return httpx.get(running.url("/healthz"), timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=DEADLINE, interval=0.1, message=f"{base_url}/healthz")
    return running


def close_console_stack(running: ConsoleStack) -> None:
    # Closed now, not at exit: a live producer logs its lost broker when the session ends.
    running.producer.producer.close()
    running.sink.close()
    running.refusing.close()
    running.redis.close()
