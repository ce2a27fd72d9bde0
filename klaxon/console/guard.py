"""Who may see and change what: the dependencies every console page and form takes.

``Viewer`` is any signed-in user (else a redirect to the sign-in page). ``Writer`` is a
signed-in ``write`` user whose form carries the session's CSRF token; anything else is
refused with 403 by the server, whatever buttons the page showed.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Form, Request

from klaxon.api.services import services_of
from klaxon.console.config import ConsoleConfig
from klaxon.console.session import Session, anonymous, token_digest

PARTIAL_HEADER = "X-Klaxon-Partial"


class SignInNeeded(Exception):
    """Answered with a redirect to the sign-in page, coming back to ``next_path`` after."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Refused(Exception):
    """Answered with a readable error page and ``status``."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def console_of(request: Request) -> ConsoleConfig:
    config: ConsoleConfig = request.app.state.console
    return config


def session_of(request: Request) -> Session:
    """The request's session (read once from its cookie), anonymous when it has none, when
    it is older than MAX_AGE, or when its user or token is no longer configured as it was."""
    cached = getattr(request.state, "session", None)
    if isinstance(cached, Session):
        return cached
    session = console_of(request).codec.read(request) or anonymous()
    if session.signed_in and (session.expired(time.time()) or not _still_allowed(request, session)):
        session = replace(anonymous(), flash="Your session has ended: sign in again.")
    request.state.session = session
    return session


def _still_allowed(request: Request, session: Session) -> bool:
    if session.token_digest:
        return any(
            hmac.compare_digest(token_digest(t.secret.decode()), session.token_digest)
            and t.role is session.role
            for t in services_of(request).tokens
        )
    return any(u.name == session.user and u.role is session.role for u in console_of(request).users)


def is_partial(request: Request) -> bool:
    return request.headers.get(PARTIAL_HEADER) == "1"


def local_path(candidate: str | None) -> str:
    """``candidate`` if it is a path on this site, else ``/`` (no open redirect)."""
    if candidate and candidate.startswith("/") and not candidate.startswith(("//", "/\\")):
        return candidate
    return "/"


def viewer(request: Request) -> Session:
    session = session_of(request)
    if not session.signed_in:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInNeeded(request.url.path + query)
    return session


def _check_csrf(session: Session, csrf: str) -> None:
    if not csrf or not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
        raise Refused(
            403,
            "Form refused",
            "This form carried no valid CSRF token: it did not come from this console, or "
            "it was shown before you last signed in. Reload the page and try again.",
        )


def writer(request: Request, csrf: Annotated[str, Form()] = "") -> Session:
    session = viewer(request)
    _check_csrf(session, csrf)
    if not session.can_write:
        raise Refused(
            403,
            "Not allowed",
            f"{session.user} has the read role: the console shows, but does not change, "
            "alerts, silences and dead letters.",
        )
    return session


def csrf_only(request: Request, csrf: Annotated[str, Form()] = "") -> Session:
    """A form any visitor may post (sign-in, sign-out), still from this console only."""
    session = session_of(request)
    _check_csrf(session, csrf)
    return session


Viewer = Annotated[Session, Depends(viewer)]
Writer = Annotated[Session, Depends(writer)]
AnyVisitor = Annotated[Session, Depends(csrf_only)]
