"""A console app on real Redis and a SQLite history, and a TestClient signed in to it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.acks import AckBook, AlertKind, Opening
from alerts.store import AlertEvent, AlertStore
from contract.celery_app import make_app
from contract.settings import Settings
from history.database import make_engine
from history.queries import History
from klaxon.api.app import Services, create_app, requeuer
from klaxon.api.tokens import Role, parse_tokens
from klaxon.console.config import ConsoleConfig
from klaxon.console.users import User, hash_password
from tests.support.databases import sqlite_url

READ_TOKEN = "read-token-0123456789abcdef"
WRITE_TOKEN = "write-token-0123456789abcdef"
SECRET = "console-secret-0123456789abcdef0123456789"
PASSWORDS = {"alice": "alice-password", "rob": "rob-password"}
# Hashing is slow by design: hash once per test session.
USERS = (
    User("alice", Role.WRITE, hash_password(PASSWORDS["alice"])),
    User("rob", Role.READ, hash_password(PASSWORDS["rob"])),
)
TOKENS = parse_tokens(f"read:{READ_TOKEN},write:{WRITE_TOKEN}")

ALERT = "5b7e2c1a-0000-4000-8000-000000000001"
# A hit rule as docs/alerts.md shows one: a webhook, acknowledged by a person.
WEBHOOK = {"webhook": {"url": "http://127.0.0.1:9/hook"}}
HOTLIST: dict[str, Any] = {
    "id": "hotlist",
    "notify": ["webhook"],
    "acknowledge": True,
    "repeat_interval": "10m",
    "conditions": [{"field": "camera_id", "operator": "exists"}],
    "message_template": "seen {camera_id}",
}

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def signed_in(app: FastAPI, user: str) -> TestClient:
    """A client that signed in through the form, as a browser does."""
    client = TestClient(app, follow_redirects=False)
    form = client.get("/login")
    reply = client.post(
        "/login",
        data={"username": user, "password": PASSWORDS[user], "csrf": csrf_of(form.text)},
    )
    assert reply.status_code == 303, reply.text
    return client


@contextmanager
def console_app(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str, rules: Path
) -> Iterator[FastAPI]:
    """The API and console on ``redis_client`` and a new SQLite history; its URL is kept
    on ``app.state.database_url`` for tests that record an outbox into it."""
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    services = Services(
        history=History(engine),
        redis=redis_client,
        tokens=TOKENS,
        rules_path=rules,
        default_topic="plates",
        requeue=requeuer(make_app(Settings(redis_url=redis_url))),
    )
    app = create_app(services, ConsoleConfig(users=USERS, secret=SECRET))
    app.state.database_url = url
    try:
        yield app
    finally:
        engine.dispose()


def open_hit(client: redis.Redis, alert_id: str = ALERT, plate: str = "ABC123") -> None:
    """A hotlist hit on ``plate`` at gate-2, open, as the bridge opens one (alerts.hits)."""
    now = 1_700_000_000.0
    AckBook(client).open(
        [
            Opening(
                alert_id=alert_id,
                rule_id="hotlist",
                kind=AlertKind.HIT,
                key=plate,
                opened_at=now,
                repeat=(),
                due=(),
                context={
                    "event": {"camera_id": "gate-2", "plate": {"normalized_text": plate}},
                    "values": {"alert_id": alert_id},
                },
            )
        ]
    )
    AlertStore(client).save(
        [
            AlertEvent(
                id=alert_id,
                rule_id="hotlist",
                device_id=plate,
                triggered_at=now,
                current_value=None,
                threshold_value=None,
                operator=None,
                metric=None,
                kind="hit",
                metadata={"rule_name": "Hotlist", "priority": "high"},
            )
        ]
    )
