"""The HTTP API on real Redis and a real history database: auth, errors, pages, no secrets."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.acks import AckBook, AckState, AlertKind, Opening
from contract import outbox
from contract.celery_app import make_app
from contract.outbox import AttemptOutcome, NotificationStatus
from contract.settings import Settings
from history.database import make_engine
from history.queries import History
from klaxon.api.app import Services, create_app, requeuer
from klaxon.api.tokens import TokenConfigError, parse_tokens
from tasks.deadletters import DeadLetter, DeadLetterStore
from tests.support.databases import sqlite_url
from tests.support.history import record_outbox
from tests.support.links import ACK as ACK_URL
from tests.support.links import TOKENS, with_links
from tests.support.outbox import read_outbox

READ = "read-token-0123456789abcdef"
WRITE = "write-token-0123456789abcdef"
SECRET = "hook-secret-5f0c1e2d3b4a"


@pytest.fixture
def app(
    tmp_path: Path,
    redis_client: redis.Redis,
    redis_url: str,
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FastAPI]:
    monkeypatch.setenv("WEBHOOK_TOKEN", SECRET)
    rules = write_config(
        {
            "webhook": {
                "url": f"https://hooks.example.com/{SECRET}",
                "headers": {"Authorization": "Bearer ${WEBHOOK_TOKEN}"},
            }
        },
        [
            {
                "id": "watch",
                "notify": ["webhook"],
                "conditions": [{"field": "camera_id", "operator": "exists"}],
                "message_template": "seen {camera_id}",
            }
        ],
    )
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    services = Services(
        history=History(engine),
        redis=redis_client,
        tokens=parse_tokens(f"read:{READ},write:{WRITE}"),
        rules_path=rules,
        default_topic="plates",
        requeue=requeuer(make_app(Settings(redis_url=redis_url))),
    )
    app = create_app(services)
    app.state.database_url = url
    yield app
    engine.dispose()


def _client(app: FastAPI, token: str | None = READ) -> TestClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(app, headers=headers, raise_server_exceptions=True)


def _letter(letter_id: str) -> DeadLetter:
    return DeadLetter(
        id=letter_id, rule_id="watch", channel="webhook", recipients_left=[], message="m",
        error="answered 400", reason="client_error", attempts=1, first_failure_at=1.0,
        last_failure_at=2.0, notification={"id": letter_id, "channel": "webhook"},
    )  # fmt: skip


def _linked_letter(letter_id: str) -> DeadLetter:
    return with_links(_letter(letter_id))


def _history(client: redis.Redis, app: FastAPI) -> None:
    """Two alerts (one resolved, acknowledged first) and a notification sent at the third try."""
    records: list[outbox.Record] = []
    for alert_id, at, resolved in (("a-old", 100.0, 400.0), ("a-new", 200.0, None)):
        event: dict[str, Any] = {
            "id": alert_id, "rule_id": "temp_high", "device_id": "tank-1", "kind": "threshold",
            "metric": "temperature", "operator": ">", "threshold_value": 82.0,
            "current_value": 82.5, "triggered_at": at, "is_resolved": False, "resolved_at": None,
            "resolution_value": None, "metadata": {},
        }  # fmt: skip
        records.append(outbox.alert_event(event, "trigger"))
        if resolved:
            records.append(outbox.alert_action(outbox.Kind.ACK, alert_id, actor="ana", at=150.0))
            resolved_event = {
                **event,
                "is_resolved": True,
                "resolved_at": resolved,
                "resolution_value": 81.0,
            }
            records.append(outbox.alert_event(resolved_event, "resolve"))
    records.append(outbox.notification_queued("n1", "temp_high", "webhook", [], "trigger", "a-old"))
    for number, final in enumerate((False, False, True)):
        records.append(outbox.attempt("n1", f"t{number}", AttemptOutcome.STARTED))
        records.append(
            outbox.attempt(
                "n1",
                f"t{number}",
                AttemptOutcome.SENT if final else AttemptOutcome.FAILED,
                status=NotificationStatus.SENT if final else NotificationStatus.RETRYING,
                error="" if final else "answered 503",
                reason="" if final else "server_error",
            )
        )
    outbox.append_batch(client, records)
    record_outbox(client, app.state.database_url)


def test_no_token_is_401_and_an_unknown_token_too(app: FastAPI) -> None:
    """Every /api/v1 endpoint refuses a request without a configured bearer token."""
    for token in (None, "not-a-configured-token-at-all"):
        response = _client(app, token).get("/api/v1/alerts")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["fields"][0]["field"] == "header.Authorization"
    assert _client(app, None).get("/healthz").status_code == 200


def test_a_read_token_gets_403_on_requeue_and_a_write_token_requeues(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """Write endpoints need a write token; requeue puts the task back on its queue."""
    store = DeadLetterStore(redis_client)
    store.add(_letter("d1"))
    forbidden = _client(app, READ).post("/api/v1/dead-letters/d1/requeue")
    assert forbidden.status_code == 403
    assert forbidden.json()["error"] == "this endpoint needs a write token"
    assert store.get("d1") is not None
    assert _client(app, READ).get("/api/v1/dead-letters/d1").json()["reason"] == "client_error"

    done = _client(app, WRITE).post("/api/v1/dead-letters/d1/requeue")
    assert (done.status_code, done.json()) == (200, {"requeued": "d1"})
    assert store.get("d1") is None
    (message,) = redis_client.lrange("notify.webhook", 0, -1)
    assert json.loads(message)["headers"]["id"] == "d1"
    missing = _client(app, WRITE).post("/api/v1/dead-letters/d1/requeue")
    assert missing.status_code == 404
    assert missing.json()["fields"] == [
        {"field": "path.letter_id", "message": missing.json()["error"]}
    ]

    store.add(_letter("d2"))
    assert _client(app, READ).delete("/api/v1/dead-letters/d2").status_code == 403
    assert _client(app, WRITE).delete("/api/v1/dead-letters/d2").json() == {"purged": "d2"}
    assert _client(app).get("/api/v1/dead-letters").json() == {"items": []}


def test_dead_letters_are_listed_without_link_tokens(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """A reader sees that a letter had ack and silence links, never their tokens; the
    stored letter keeps them, so a requeue sends links that work."""
    store = DeadLetterStore(redis_client)
    store.add(_linked_letter("d1"))
    (listed,) = _client(app).get("/api/v1/dead-letters").json()["items"]
    one = _client(app).get("/api/v1/dead-letters/d1").json()
    for shown in (listed, one):
        text = json.dumps(shown)
        assert not [token for token in TOKENS if token in text]
        assert shown["message"] == "Plate ABC123. Ack: https://klaxon.example.com/ack/\u2026"
        assert shown["notification"]["links"] == {
            "ack": "https://klaxon.example.com/ack/\u2026",
            "silence": "https://klaxon.example.com/silence-link/\u2026",
        }
    stored = store.get("d1")
    assert stored is not None and stored.notification["links"]["ack"] == ACK_URL


def test_errors_are_json_naming_the_field(app: FastAPI) -> None:
    """A bad limit, a forged cursor and an oversized body each say what was wrong."""
    client = _client(app)
    invalid = client.get("/api/v1/notifications", params={"limit": 0, "status": "lost"})
    assert invalid.status_code == 422
    assert {f["field"] for f in invalid.json()["fields"]} == {"query.limit", "query.status"}
    forged = client.get("/api/v1/alerts", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert forged.status_code == 400
    assert forged.json()["fields"][0]["field"] == "query.cursor"
    huge = _client(app, WRITE).post("/api/v1/dead-letters/x/requeue", content=b"x" * 70_000)
    assert huge.status_code == 413
    assert huge.json()["fields"][0]["field"] == "body"


def test_alerts_pages_timeline_and_a_notification_with_three_attempts(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """History newest first in pages of one; the timeline; every attempt of a notification."""
    _history(redis_client, app)
    client = _client(app)
    first = client.get("/api/v1/alerts", params={"limit": 1}).json()
    assert [a["id"] for a in first["items"]] == ["a-new"]
    second = client.get("/api/v1/alerts", params={"limit": 1, "cursor": first["next_cursor"]})
    assert [a["id"] for a in second.json()["items"]] == ["a-old"]
    assert second.json()["next_cursor"] is None
    assert [a["id"] for a in client.get("/api/v1/alerts?resolved=true").json()["items"]] == [
        "a-old"
    ]

    detail = client.get("/api/v1/alerts/a-old").json()
    assert detail["alert"]["acknowledged_by"] == "ana"
    assert detail["alert"]["duration_seconds"] == 300.0
    assert [(s["kind"], s["at"]) for s in detail["timeline"]] == [
        ("trigger", 100.0),
        ("ack", 150.0),
        ("resolve", 400.0),
    ]
    assert client.get("/api/v1/alerts/nope").status_code == 404

    listed = client.get("/api/v1/notifications", params={"status": "sent"}).json()["items"]
    assert [(n["id"], n["alert_id"]) for n in listed] == [("n1", "a-old")]
    shown = client.get("/api/v1/notifications/n1").json()
    assert [(a["number"], a["outcome"], a["reason"]) for a in shown["attempts"]] == [
        (1, "failed", "server_error"),
        (2, "failed", "server_error"),
        (3, "sent", ""),
    ]


def test_rules_and_status_show_no_secret(app: FastAPI, redis_client: redis.Redis) -> None:
    """The rules report lists rules and channel names; no response carries a secret."""
    client = _client(app)
    rules = client.get("/api/v1/rules")
    assert rules.json()["valid"] is True, rules.json()["problems"]
    assert [(r["id"], r["kind"], r["channels"]) for r in rules.json()["rules"]] == [
        ("watch", "match", ["webhook"])
    ]
    status = client.get("/api/v1/status").json()
    assert status["redis"] is True and status["database"] is True
    for path in ("/api/v1/rules", "/api/v1/status", "/api/v1/openapi.json"):
        assert SECRET not in client.get(path).text


def test_tokens_need_a_role_and_length() -> None:
    """A malformed KLAXON_API_TOKENS names the entry that is wrong."""
    with pytest.raises(TokenConfigError, match="entry 2: role 'admin'"):
        parse_tokens(f"read:{READ},admin:{WRITE}")
    with pytest.raises(TokenConfigError, match="entry 1: a token needs at least 16"):
        parse_tokens("write:short")


def _open(client: redis.Redis, alert_id: str, kind: AlertKind) -> None:
    """An open alert (or hit) in Redis, as the bridge opens it, with no follow-ups."""
    AckBook(client).open(
        [Opening(alert_id, "temp_high", kind, "tank-1", 100.0, (), (), {})],
    )


def test_ack_and_unack_by_api_change_the_state_and_reach_the_timeline(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """POST ack then unack (write token): the new state each time; the history keeps who, why."""
    _history(redis_client, app)
    _open(redis_client, "a-new", AlertKind.ALERT)
    writer = _client(app, WRITE)

    acked = writer.post("/api/v1/alerts/a-new/ack", json={"by": "ana", "comment": "on it"})
    assert acked.status_code == 200, acked.text
    assert (acked.json()["state"], acked.json()["by"]) == ("acknowledged", "ana")
    again = writer.post("/api/v1/alerts/a-new/ack", json={"by": "bo"})
    assert again.status_code == 409
    assert again.json()["error"] == "alert a-new is already acknowledged"
    unacked = writer.post("/api/v1/alerts/a-new/unack", json={"by": "bo"})
    assert unacked.json()["state"] == "open"

    record_outbox(redis_client, app.state.database_url)
    detail = _client(app).get("/api/v1/alerts/a-new").json()
    steps = [(s["kind"], s["actor"], s["note"]) for s in detail["timeline"]]
    assert steps == [("trigger", "", ""), ("ack", "ana", "on it"), ("unack", "bo", "")]


def test_reject_by_api_closes_a_hit_and_refuses_a_stateful_alert(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """A hit is rejected with its reason; a stateful alert gets a 409 saying to ack instead."""
    _open(redis_client, "h-1", AlertKind.HIT)
    _open(redis_client, "a-1", AlertKind.ALERT)
    writer = _client(app, WRITE)

    rejected = writer.post("/api/v1/alerts/h-1/reject", json={"by": "ana", "reason": "misread"})
    assert rejected.json()["state"] == "rejected"
    record = AckBook(redis_client).get("h-1")
    assert record is not None and (record.by, record.reason) == ("ana", "misread")
    refused = writer.post("/api/v1/alerts/a-1/reject", json={"by": "ana", "reason": "misread"})
    assert refused.status_code == 409
    assert "only a hit can be rejected" in refused.json()["error"]


def test_acking_an_unknown_or_resolved_alert_is_a_json_error(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """Unknown id: 404 naming it; resolved: 409 saying when; no reason: 422 naming the field."""
    _open(redis_client, "a-1", AlertKind.ALERT)
    AckBook(redis_client).resolve(["a-1"], at=160.0)
    writer = _client(app, WRITE)

    unknown = writer.post("/api/v1/alerts/nope/ack", json={"by": "ana"})
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": "no acknowledgeable alert with id 'nope'",
        "fields": [
            {"field": "path.alert_id", "message": "no acknowledgeable alert with id 'nope'"}
        ],
    }
    resolved = writer.post("/api/v1/alerts/a-1/ack", json={"by": "ana"})
    assert resolved.status_code == 409
    assert resolved.json()["error"] == (
        "alert a-1 is already resolved (at 1970-01-01T00:02:40+00:00): there is nothing to ack"
    )
    no_reason = writer.post("/api/v1/alerts/a-1/reject", json={"by": "ana"})
    assert no_reason.status_code == 422
    assert [f["field"] for f in no_reason.json()["fields"]] == ["body.reason"]


def test_a_read_token_cannot_ack(app: FastAPI, redis_client: redis.Redis) -> None:
    """ack is a write: a read token gets 403 and the alert stays open."""
    _open(redis_client, "a-1", AlertKind.ALERT)
    response = _client(app, READ).post("/api/v1/alerts/a-1/ack", json={"by": "ana"})
    assert response.status_code == 403
    record = AckBook(redis_client).get("a-1")
    assert record is not None and record.state == AckState.OPEN


TANK = ["rule_id=tank_temperature_high", "camera_id=~cam-.*"]


def test_silences_need_a_token_and_a_read_token_cannot_add_one(app: FastAPI) -> None:
    """No token is 401 on list and add; a read token gets 403 on add and expire."""
    body = {"matchers": TANK, "duration": "2h", "by": "ana"}
    assert _client(app, None).get("/api/v1/silences").status_code == 401
    assert _client(app, None).post("/api/v1/silences", json=body).status_code == 401
    assert _client(app, READ).post("/api/v1/silences", json=body).status_code == 403
    assert _client(app, READ).post("/api/v1/silences/x/expire").status_code == 403
    assert _client(app, READ).get("/api/v1/silences").json() == {"items": []}


def test_a_silence_is_added_listed_and_expired_by_api_with_its_audit_trail(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """Add (201), list, expire (200), then it is listed only with all=true; both are audited."""
    writer = _client(app, WRITE)
    added = writer.post(
        "/api/v1/silences",
        json={"matchers": TANK, "duration": "2h", "comment": "water change", "by": "ana"},
    )
    assert added.status_code == 201, added.text
    silence = added.json()
    assert silence["matchers"] == TANK
    assert silence["state"] == "active"
    assert silence["ends_at"] - silence["starts_at"] == 7200
    assert (silence["comment"], silence["created_by"]) == ("water change", "ana")
    by_seconds = writer.post(
        "/api/v1/silences", json={"matchers": ["channel=sms"], "duration": 90, "by": "bo"}
    )
    assert by_seconds.status_code == 201
    assert by_seconds.json()["ends_at"] - by_seconds.json()["starts_at"] == 90

    listed = _client(app).get("/api/v1/silences").json()["items"]
    assert [s["id"] for s in listed] == [silence["id"], by_seconds.json()["id"]]

    ended = writer.post(
        f"/api/v1/silences/{silence['id']}/expire", json={"by": "bo", "comment": "done"}
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["state"] == "expired"
    assert [s["id"] for s in _client(app).get("/api/v1/silences").json()["items"]] == [
        by_seconds.json()["id"]
    ]
    everything = _client(app).get("/api/v1/silences", params={"all": "true"}).json()["items"]
    assert {s["id"]: s["state"] for s in everything} == {
        silence["id"]: "expired",
        by_seconds.json()["id"]: "active",
    }
    audits = [
        (r.data["silence_id"], r.data["action"], r.data["actor"])
        for r in read_outbox(redis_client)
        if r.kind == outbox.Kind.SILENCE
    ]
    assert audits == [
        (silence["id"], "created", "ana"),
        (by_seconds.json()["id"], "created", "bo"),
        (silence["id"], "expired", "bo"),
    ]

    missing = writer.post("/api/v1/silences/nosuchsilence/expire")
    assert missing.status_code == 404
    assert missing.json()["fields"][0]["field"] == "path.silence_id"


def test_a_bad_matcher_or_duration_is_a_422_naming_the_field(app: FastAPI) -> None:
    """The matcher parser's message comes back under body.matchers[1]; nothing is stored."""
    writer = _client(app, WRITE)
    bad = writer.post(
        "/api/v1/silences",
        json={"matchers": ["rule_id=tank", "camera_id=~cam-("], "duration": "2h", "by": "ana"},
    )
    assert bad.status_code == 422
    (field,) = bad.json()["fields"]
    assert field["field"] == "body.matchers[1]"
    assert "camera_id=~cam-(" in field["message"]
    no_duration = writer.post(
        "/api/v1/silences", json={"matchers": ["rule_id=tank"], "duration": "soon", "by": "ana"}
    )
    assert no_duration.status_code == 422
    assert no_duration.json()["fields"][0]["field"] == "body.duration"
    assert _client(app).get("/api/v1/silences", params={"all": "true"}).json() == {"items": []}


def test_active_alerts_say_who_acknowledged_them(app: FastAPI, redis_client: redis.Redis) -> None:
    """GET /alerts/active reads the live ack records: an acked threshold alert says by whom."""
    from alerts.store import AlertEvent, AlertStore

    now = 1_700_000_000.0
    for alert_id in ("tank-alert-1", "tank-alert-2"):
        AckBook(redis_client).open(
            [Opening(alert_id, "tank_hot", AlertKind.ALERT, "tank-1", now, (), (), {})]
        )
        AlertStore(redis_client).save(
            [AlertEvent(alert_id, "tank_hot", "tank-1", now, 83.0, 82.0, ">", "temperature")]
        )
    AckBook(redis_client).ack("tank-alert-1", "dana", "on it", now + 5)
    active = {a["id"]: a for a in _client(app).get("/api/v1/alerts/active").json()}
    assert active["tank-alert-1"]["acknowledged_by"] == "dana"
    assert active["tank-alert-1"]["acknowledged_at"] == now + 5
    assert active["tank-alert-2"]["acknowledged_by"] is None
