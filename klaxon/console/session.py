"""The console's session: a signed cookie holding who is signed in and the CSRF token.

Nothing is kept on the server: the cookie is signed with ``KLAXON_CONSOLE_SECRET``
(itsdangerous) and carries a timestamp, so a session ends ``MAX_AGE`` after sign-in and
a changed secret signs everybody out. A visitor gets an anonymous session (a CSRF token,
no user) on the first page, so that even the sign-in form carries a token.

The cookie is re-signed on every page (to carry the next flash message), so its own
timestamp says nothing about the sign-in: ``signed_at`` does, and a session older than
``MAX_AGE`` is over whatever the browser does. Who the cookie names is checked against
the configuration on every request (``klaxon.console.guard``), so a user removed from
``KLAXON_CONSOLE_USERS``, or given another role, or an API token taken out, is signed out
at their next click.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (a cross-site form
post does not carry it) and ``Secure`` when the console is reached over TLS.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from klaxon.api.tokens import Role

COOKIE = "klaxon_session"
MAX_AGE = 12 * 3600


@dataclass(frozen=True)
class Session:
    csrf: str
    user: str | None = None
    role: Role | None = None
    # One message for the next page shown ("Acknowledged 3f2a…"), then dropped.
    flash: str = ""
    # When the user signed in (Unix seconds); the session ends MAX_AGE after it.
    signed_at: float = 0.0
    # A session signed in with an API token: the token's digest, to check it is still set.
    token_digest: str = ""

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    @property
    def can_write(self) -> bool:
        return self.role is Role.WRITE

    def signed_in_as(self, user: str, role: Role, at: float, token_digest: str = "") -> Session:
        # A new CSRF token at sign-in: a token seen before it is worth nothing after.
        return Session(
            csrf=secrets.token_urlsafe(24),
            user=user,
            role=role,
            signed_at=at,
            token_digest=token_digest,
        )

    def expired(self, now: float) -> bool:
        return self.signed_in and not 0 <= now - self.signed_at <= MAX_AGE

    def with_flash(self, message: str) -> Session:
        return replace(self, flash=message)


def anonymous() -> Session:
    return Session(csrf=secrets.token_urlsafe(24))


def token_digest(token: str) -> str:
    """What a token session keeps of its token: enough to tell it is still configured."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionCodec:
    def __init__(self, secret: str, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="klaxon.console.session")
        self.secure = secure

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=MAX_AGE)
        except BadSignature:  # also SignatureExpired: a stale cookie is no session
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        role, user, flash = data.get("r"), data.get("u"), data.get("f")
        signed_at, digest = data.get("t"), data.get("d")
        return Session(
            csrf=data["c"],
            user=user if isinstance(user, str) else None,
            role=Role(role) if isinstance(role, str) and role in set(Role) else None,
            flash=flash if isinstance(flash, str) else "",
            signed_at=float(signed_at) if isinstance(signed_at, int | float) else 0.0,
            token_digest=digest if isinstance(digest, str) else "",
        )

    def encode(self, session: Session) -> str:
        data: dict[str, str | float] = {"c": session.csrf}
        if session.user is not None and session.role is not None:
            data |= {"u": session.user, "r": str(session.role), "t": session.signed_at}
            if session.token_digest:
                data["d"] = session.token_digest
        if session.flash:
            data["f"] = session.flash
        return self._serializer.dumps(data)

    def write(self, response: Response, session: Session, request: Request) -> None:
        response.set_cookie(
            COOKIE,
            self.encode(session),
            max_age=MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=self.secure or request.url.scheme == "https",
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
