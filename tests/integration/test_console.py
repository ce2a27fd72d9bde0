"""The web console on real Redis and a real history database: sign-in, CSRF, roles, acks.

These run the console in-process with a TestClient; tests/browser drives it in Chromium.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.acks import AckBook, AckState
from klaxon.api.tokens import Role, parse_tokens
from klaxon.console.config import ConsoleConfig
from klaxon.console.session import COOKIE, MAX_AGE, anonymous
from tests.support.console import (
    ALERT,
    HOTLIST,
    PASSWORDS,
    READ_TOKEN,
    SECRET,
    USERS,
    WEBHOOK,
    WRITE_TOKEN,
    console_app,
    csrf_of,
    open_hit,
    signed_in,
)


@pytest.fixture
def app(
    tmp_path: Path,
    redis_client: redis.Redis,
    redis_url: str,
    write_config: Callable[..., Path],
) -> Iterator[FastAPI]:
    rules = write_config(WEBHOOK, [HOTLIST])
    with console_app(tmp_path, redis_client, redis_url, rules) as app:
        yield app


def test_pages_need_sign_in_and_come_back_after_it(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    reply = client.get("/?rule_id=hotlist")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=/%3Frule_id%3Dhotlist"
    form = client.get(reply.headers["location"])
    assert 'name="next" value="/?rule_id=hotlist"' in form.text
    signed = client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORDS["alice"],
            "csrf": csrf_of(form.text),
            "next": "/?rule_id=hotlist",
        },
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/?rule_id=hotlist"


def test_session_cookie_is_httponly_and_samesite_lax(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    header = client.get("/login").headers["set-cookie"]
    assert header.startswith(f"{COOKIE}=")
    assert "HttpOnly" in header
    assert "SameSite=lax" in header
    assert "Secure" not in header  # plain http here; behind TLS it is (next test)


def test_session_cookie_is_secure_behind_tls(app: FastAPI, tmp_path: Path) -> None:
    app.state.console = ConsoleConfig(
        users=USERS, secret=SECRET, public_url="https://klaxon.example.com"
    )
    header = TestClient(app).get("/login").headers["set-cookie"]
    assert "Secure" in header


def test_wrong_password_and_unknown_user_read_the_same(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    csrf = csrf_of(client.get("/login").text)
    wrong = client.post("/login", data={"username": "alice", "password": "x", "csrf": csrf})
    nobody = client.post("/login", data={"username": "eve", "password": "x", "csrf": csrf})
    assert wrong.status_code == nobody.status_code == 401
    assert "Unknown user, wrong password" in wrong.text
    assert client.get("/", follow_redirects=False).status_code == 303  # still signed out


def test_an_api_token_signs_in_with_its_role(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    csrf = csrf_of(client.get("/login").text)
    assert client.post("/login", data={"token": WRITE_TOKEN, "csrf": csrf}).status_code == 303
    assert "token:write (write)" in client.get("/").text


def test_sign_in_without_csrf_token_is_refused(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    client.get("/login")
    reply = client.post("/login", data={"username": "alice", "password": PASSWORDS["alice"]})
    assert reply.status_code == 403
    assert "CSRF" in reply.text


def test_firing_page_lists_open_hit_and_ack_closes_it(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    open_hit(redis_client)
    client = signed_in(app, "alice")
    firing = client.get("/")
    assert f'data-alert-id="{ALERT}"' in firing.text
    assert "gate-2" in firing.text and 'data-action="ack"' in firing.text
    reply = client.post(f"/alerts/{ALERT}/ack", data={"csrf": csrf_of(firing.text)})
    assert reply.status_code == 303
    assert AckBook(redis_client).get(ALERT).state is AckState.ACKNOWLEDGED  # type: ignore[union-attr]
    assert AckBook(redis_client).get(ALERT).by == "alice"  # type: ignore[union-attr]
    after = client.get(reply.headers["location"])
    assert "Acknowledged 5b7e2c1a" in after.text


def test_filters_narrow_the_firing_list(app: FastAPI, redis_client: redis.Redis) -> None:
    open_hit(redis_client)
    open_hit(redis_client, "5b7e2c1a-0000-4000-8000-000000000002", plate="XYZ999")
    client = signed_in(app, "rob")
    assert client.get("/?device=xyz").text.count("data-alert-id=") == 1
    assert client.get("/?camera=gate-2").text.count("data-alert-id=") == 2
    assert "that matches these filters" in client.get("/?camera=gate-9").text


def test_read_user_sees_no_buttons_and_a_forged_post_gets_403(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    open_hit(redis_client)
    client = signed_in(app, "rob")
    firing = client.get("/")
    assert f'data-alert-id="{ALERT}"' in firing.text
    assert "data-action=" not in firing.text
    forged = client.post(f"/alerts/{ALERT}/ack", data={"csrf": csrf_of(firing.text)})
    assert forged.status_code == 403
    assert "read role" in forged.text
    assert AckBook(redis_client).get(ALERT).state is AckState.OPEN  # type: ignore[union-attr]


def test_a_form_without_its_csrf_token_gets_403(app: FastAPI, redis_client: redis.Redis) -> None:
    open_hit(redis_client)
    client = signed_in(app, "alice")
    for data in ({}, {"csrf": "forged"}):
        reply = client.post(f"/alerts/{ALERT}/ack", data=data)
        assert reply.status_code == 403
        assert "CSRF" in reply.text
    assert AckBook(redis_client).get(ALERT).state is AckState.OPEN  # type: ignore[union-attr]


def test_partial_refresh_returns_only_the_live_part(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    open_hit(redis_client)
    client = signed_in(app, "rob")
    part = client.get("/", headers={"X-Klaxon-Partial": "1"})
    assert part.status_code == 200
    assert "<html" not in part.text and f'data-alert-id="{ALERT}"' in part.text
    signed_out = TestClient(app).get("/", headers={"X-Klaxon-Partial": "1"})
    assert signed_out.status_code == 401  # the script reloads, which goes to sign-in


def test_alert_page_shows_state_and_timeline(app: FastAPI, redis_client: redis.Redis) -> None:
    open_hit(redis_client)
    client = signed_in(app, "alice")
    page = client.get(f"/alerts/{ALERT}")
    assert page.status_code == 200
    assert "Hotlist" in page.text and "opened" in page.text
    assert f"/silences/new?alert_id={ALERT}" in page.text
    missing = client.get("/alerts/no-such-alert")
    assert missing.status_code == 404 and "No such alert" in missing.text


def test_pages_forbid_framing_and_inline_script(app: FastAPI) -> None:
    headers = TestClient(app).get("/login").headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # default-src 'self'


def test_a_parameter_out_of_bounds_gets_a_page_and_the_api_still_json(app: FastAPI) -> None:
    client = signed_in(app, "rob")
    page = client.get("/?rule_id=" + "x" * 300)
    assert page.status_code == 422
    assert "Not accepted" in page.text and "rule_id" in page.text and "<html" in page.text
    api = TestClient(app).get(
        "/api/v1/alerts?limit=0", headers={"Authorization": "Bearer " + READ_TOKEN}
    )
    assert api.status_code == 422 and api.json()["fields"][0]["field"] == "query.limit"


def test_a_session_ends_twelve_hours_after_sign_in_however_often_it_refreshes(
    app: FastAPI,
) -> None:
    """The cookie is re-signed on every page; the sign-in time inside it still counts."""
    codec = app.state.console.codec
    client = TestClient(app, follow_redirects=False)
    fresh = anonymous().signed_in_as("alice", Role.WRITE, time.time() - MAX_AGE + 60)
    client.cookies.set(COOKIE, codec.encode(fresh))
    assert client.get("/", headers={"X-Klaxon-Partial": "1"}).status_code == 200
    stale = anonymous().signed_in_as("alice", Role.WRITE, time.time() - MAX_AGE - 60)
    client.cookies.clear()
    client.cookies.set(COOKIE, codec.encode(stale))
    assert client.get("/").status_code == 303
    assert "Your session has ended" in client.get("/login").text


def test_a_user_removed_or_demoted_is_signed_out_at_the_next_click(app: FastAPI) -> None:
    client = signed_in(app, "alice")
    assert client.get("/").status_code == 200
    alice, rob = USERS
    app.state.console = ConsoleConfig(users=(replace(alice, role=Role.READ), rob), secret=SECRET)
    assert client.get("/").status_code == 303


def test_a_token_taken_out_of_the_configuration_signs_its_session_out(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    csrf = csrf_of(client.get("/login").text)
    client.post("/login", data={"token": WRITE_TOKEN, "csrf": csrf})
    assert client.get("/").status_code == 200
    services = app.state.services
    app.state.services = replace(services, tokens=parse_tokens(f"read:{READ_TOKEN}"))
    assert client.get("/").status_code == 303
