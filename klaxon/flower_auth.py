"""Flower's login, checked before Flower starts.

Flower reads ``FLOWER_BASIC_AUTH`` from the environment by itself. Unset, it shows every
task's arguments and failures to anyone who reaches its port; set but blank (as a copied
``.env.example`` leaves it), it becomes the credential list ``['']``: every page answers
401 while ``/healthcheck`` still says healthy. Both are refused here, with a message saying
what to set. Running without a login is possible, but only on purpose: ``--no-auth``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BASIC_AUTH_ENV = "FLOWER_BASIC_AUTH"
# Flower's OAuth (Google, GitHub, GitLab, Okta): a login too, configured by Flower itself.
OAUTH_ENV = "FLOWER_AUTH"
_LOGIN_FLAGS = ("--basic-auth", "--basic_auth", "--auth")


class FlowerAuthError(Exception):
    """The login settings would start Flower open or locked; the message says what to set."""


@dataclass(frozen=True)
class FlowerAuth:
    basic_auth: str | None
    """What FLOWER_BASIC_AUTH must hold when Flower reads it; None: remove it. (The
    environment, not ``--basic-auth``: a command line is visible to every local user.)"""


def _check_pairs(value: str) -> None:
    pairs = value.split(",")
    for number, pair in enumerate(pairs, start=1):
        user, colon, password = pair.partition(":")
        if not colon or not user.strip() or not password:
            # Never echo the value: it holds passwords.
            raise FlowerAuthError(
                f"{BASIC_AUTH_ENV}: entry {number} of {len(pairs)} is not user:password "
                "(a user and a password, both non-empty; several pairs are comma-separated)"
            )


def flower_auth(environ: Mapping[str, str], args: Sequence[str], no_auth: bool) -> FlowerAuth:
    """How to start Flower with the login the environment and ``args`` ask for."""
    raw = environ.get(BASIC_AUTH_ENV)
    value = (raw or "").strip()
    other_login = bool((environ.get(OAUTH_ENV) or "").strip()) or any(
        arg.split("=", 1)[0] in _LOGIN_FLAGS for arg in args
    )
    if no_auth:
        if value or other_login:
            raise FlowerAuthError(
                f"--no-auth was given, but so was a login ({BASIC_AUTH_ENV}, {OAUTH_ENV} or "
                "--basic-auth/--auth): drop one of them"
            )
        return FlowerAuth(None)
    if value:
        _check_pairs(value)
        return FlowerAuth(value)
    if other_login:
        return FlowerAuth(None)
    state = "is blank" if raw is not None else "is not set"
    raise FlowerAuthError(
        f"{BASIC_AUTH_ENV} {state}: Flower would either show every task and failure to "
        "anyone who reaches it or, when blank, refuse every login. Set it to user:password "
        "(several pairs comma-separated), or start `klaxon flower --no-auth` to run without "
        "a login on purpose."
    )
