"""Rendering pages: the Jinja2 environment, its filters, and the session cookie on replies.

Every HTML reply goes through ``page`` or ``redirect`` so that the session (a new
anonymous one, or one whose flash message was just shown) is written back on it.
A request with ``X-Klaxon-Partial: 1`` (the refresh script) gets only the page's live part.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from alerts import humanize
from klaxon import tables
from klaxon.console.guard import console_of, is_partial, session_of

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# Seconds between refreshes of a page's live part (console.js reads it from the page).
REFRESH_SECONDS = 5


def ago(at: float | None, now: float | None = None) -> str:
    """How long ago ``at`` was, as the CLI says it: 42s, 5m 3s, 3h 10m, 2d."""
    if at is None:
        return ""
    return duration((now if now is not None else time.time()) - at)


def duration(seconds: float | None) -> str:
    return "" if seconds is None else humanize.duration(seconds)


def when(at: float | None) -> str:
    """A Unix time as UTC, to the second, as the CLI's tables show it."""
    return "" if at is None else f"{tables.when(at)} UTC"


def short(identifier: str | None) -> str:
    return (identifier or "")[:8]


TEMPLATES.env.filters.update(ago=ago, duration=duration, when=when, short=short)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    session = session_of(request)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "session": session,
            "flash": session.flash,
            "partial": is_partial(request),
            "layout": "partial.html" if is_partial(request) else "base.html",
            "refresh_seconds": REFRESH_SECONDS,
            **context,
        },
        status_code=status,
    )
    # The flash has been shown; a partial refresh must not swallow it unseen.
    kept = session if is_partial(request) else session.with_flash("")
    console_of(request).codec.write(response, kept, request)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(request: Request, to: str, flash: str = "") -> RedirectResponse:
    """A 303 to ``to`` (a GET after a form post), with ``flash`` shown on that page."""
    response = RedirectResponse(to, status_code=303)
    session = session_of(request)
    console_of(request).codec.write(response, session.with_flash(flash), request)
    return response
