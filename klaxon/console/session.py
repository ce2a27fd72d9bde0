"""The console's session: a signed cookie holding who is signed in and the CSRF token.

Nothing is kept on the server: the cookie is signed with ``KLAXON_CONSOLE_SECRET``
(itsdangerous) and carries a timestamp, so a session ends ``MAX_AGE`` after sign-in and
a changed secret signs everybody out. A visitor gets an anonymous session (a CSRF token,
no user) on the first page, so that even the sign-in form carries a token.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (a cross-site form
post does not carry it) and ``Secure`` when the console is reached over TLS.
"""

from __future__ import annotations

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

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    @property
    def can_write(self) -> bool:
        return self.role is Role.WRITE

    def signed_in_as(self, user: str, role: Role) -> Session:
        # A new CSRF token at sign-in: a token seen before it is worth nothing after.
        return Session(csrf=secrets.token_urlsafe(24), user=user, role=role)

    def with_flash(self, message: str) -> Session:
        return replace(self, flash=message)


def anonymous() -> Session:
    return Session(csrf=secrets.token_urlsafe(24))


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
        return Session(
            csrf=data["c"],
            user=user if isinstance(user, str) else None,
            role=Role(role) if isinstance(role, str) and role in set(Role) else None,
            flash=flash if isinstance(flash, str) else "",
        )

    def write(self, response: Response, session: Session, request: Request) -> None:
        data: dict[str, str] = {"c": session.csrf}
        if session.user is not None and session.role is not None:
            data |= {"u": session.user, "r": str(session.role)}
        if session.flash:
            data["f"] = session.flash
        response.set_cookie(
            COOKIE,
            self._serializer.dumps(data),
            max_age=MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=self.secure or request.url.scheme == "https",
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
