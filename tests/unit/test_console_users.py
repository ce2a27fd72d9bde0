"""Console users from KLAXON_CONSOLE_USERS, the hash-password command, and safe redirects."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from klaxon.api.tokens import Role
from klaxon.cli import main
from klaxon.console.guard import local_path
from klaxon.console.users import UsersConfigError, authenticate, hash_password, parse_users

HASH = hash_password("correct horse")


def test_entries_are_whitespace_separated_and_keep_the_hashs_commas() -> None:
    users = parse_users(f"alice:write:{HASH}\n  rob:read:{HASH}")
    assert [(u.name, u.role) for u in users] == [("alice", Role.WRITE), ("rob", Role.READ)]
    assert "," in users[0].password_hash  # m=65536,t=3,p=4 survives


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("alice", "expected name:role:hash"),
        (f"alice:admin:{HASH}", "role 'admin' is not read or write"),
        ("alice:read:plaintext", "not an argon2 hash"),
        (f"alice:read:{HASH} alice:write:{HASH}", "listed twice"),
    ],
)
def test_a_bad_entry_is_named(raw: str, says: str) -> None:
    with pytest.raises(UsersConfigError, match=says) as caught:
        parse_users(raw)
    assert "KLAXON_CONSOLE_USERS entry" in str(caught.value)
    assert HASH not in str(caught.value)


def test_authenticate_needs_the_right_name_and_password() -> None:
    users = parse_users(f"alice:write:{HASH}")
    assert authenticate(users, "alice", "correct horse") == users[0]
    assert authenticate(users, "alice", "wrong") is None
    assert authenticate(users, "mallory", "correct horse") is None


def test_hash_password_prints_an_entry_that_parses_back() -> None:
    result = CliRunner().invoke(
        main, ["console", "hash-password", "--user", "dana", "--role", "write"], input="s3cret-pw\n"
    )
    assert result.exit_code == 0, result.output
    (user,) = parse_users(result.output.strip())
    assert user.name == "dana" and user.role is Role.WRITE
    assert authenticate((user,), "dana", "s3cret-pw") == user


def test_hash_password_refuses_a_short_password() -> None:
    result = CliRunner().invoke(main, ["console", "hash-password"], input="short\n")
    assert result.exit_code == 2
    assert "at least 8 characters" in result.output


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/silences?expired=true", "/silences?expired=true"),
        ("//evil.example.com/", "/"),
        ("/\\evil.example.com", "/"),
        ("https://evil.example.com/", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_only_local_paths_are_followed_after_sign_in(given: str | None, kept: str) -> None:
    assert local_path(given) == kept
