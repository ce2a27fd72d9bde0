"""API tokens from ``KLAXON_API_TOKENS``, each with a role, checked in constant time.

The variable holds comma-separated ``role:token`` entries, e.g.
``read:3f9c...,write:a71b...``. ``read`` may view everything; ``write`` may also change
things (requeue and purge dead letters). Tokens are compared with ``hmac.compare_digest``
against every configured token, so the time taken does not tell how much of a guess was right.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum

MIN_TOKEN_LENGTH = 16


class Role(StrEnum):
    READ = "read"
    WRITE = "write"

    def allows(self, needed: Role) -> bool:
        return self is Role.WRITE or needed is Role.READ


class TokenConfigError(ValueError):
    """KLAXON_API_TOKENS is malformed; the message names the entry."""


@dataclass(frozen=True)
class Token:
    role: Role
    secret: bytes


def parse_tokens(raw: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    for number, entry in enumerate((e.strip() for e in raw.split(",")), 1):
        if not entry:
            continue
        role, sep, secret = entry.partition(":")
        if not sep:
            raise TokenConfigError(
                f"KLAXON_API_TOKENS entry {number}: expected role:token (role read or write)"
            )
        if role not in Role.__members__.values():
            raise TokenConfigError(
                f"KLAXON_API_TOKENS entry {number}: role {role!r} is not read or write"
            )
        if len(secret) < MIN_TOKEN_LENGTH:
            raise TokenConfigError(
                f"KLAXON_API_TOKENS entry {number}: a token needs at least "
                f"{MIN_TOKEN_LENGTH} characters"
            )
        tokens.append(Token(Role(role), secret.encode()))
    return tuple(tokens)


def role_of(tokens: tuple[Token, ...], presented: str) -> Role | None:
    """The role of the presented token, or None; every token is compared (constant time)."""
    given = presented.encode()
    found: Role | None = None
    for token in tokens:
        if hmac.compare_digest(token.secret, given) and found is None:
            found = token.role
    return found
