"""Console users from ``KLAXON_CONSOLE_USERS``: a name, a role and an argon2 password hash.

The variable holds whitespace-separated ``name:role:hash`` entries (an argon2 hash has
commas of its own, so entries are not comma-separated as API tokens are), e.g.::

    KLAXON_CONSOLE_USERS="alice:write:$argon2id$v=19$m=65536,t=3,p=4$... rob:read:$argon2id$..."

``klaxon console hash-password`` makes a hash. Checking a password takes argon2's time
whether or not the name exists, so the answer does not tell which names are configured.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from klaxon.api.tokens import Role

_HASHER = PasswordHasher()
# Checked against when the name is unknown, so a miss costs what a hit costs.
_DUMMY_HASH = _HASHER.hash("klaxon-console-no-such-user")


class UsersConfigError(ValueError):
    """KLAXON_CONSOLE_USERS is malformed; the message names the entry."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def parse_users(raw: str) -> tuple[User, ...]:
    users: dict[str, User] = {}
    for number, entry in enumerate(raw.split(), 1):
        name, role, password_hash = [*entry.split(":", 2), "", ""][:3]
        where = f"KLAXON_CONSOLE_USERS entry {number} ({name or entry[:20]!r})"
        if not name or not password_hash:
            raise UsersConfigError(f"{where}: expected name:role:hash")
        if role not in Role.__members__.values():
            raise UsersConfigError(f"{where}: role {role!r} is not read or write")
        if not password_hash.startswith("$argon2"):
            raise UsersConfigError(
                f"{where}: the hash is not an argon2 hash; make one with "
                "`klaxon console hash-password`"
            )
        if name in users:
            raise UsersConfigError(f"{where}: user {name!r} is listed twice")
        users[name] = User(name, Role(role), password_hash)
    return tuple(users.values())


def authenticate(users: tuple[User, ...], name: str, password: str) -> User | None:
    """The user ``name`` if ``password`` is theirs, else None (in about the same time)."""
    found = next((u for u in users if u.name == name), None)
    try:
        _HASHER.verify(found.password_hash if found else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return found
