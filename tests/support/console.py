"""A console app on real Redis and a SQLite history, and a TestClient signed in to it."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from klaxon.api.tokens import Role, parse_tokens
from klaxon.console.users import User, hash_password

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
