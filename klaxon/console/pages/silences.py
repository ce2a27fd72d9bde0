"""Silences: the list (expire one), and the form that previews, then creates, a silence.

Preview posts the form to ``/silences/preview``, which changes nothing and so needs no
write role: a read user may see what a silence would mute. Creating one posts the same form
to ``/silences`` and needs the write role. (A POST, not a GET with the fields in the query,
so that the form's CSRF token never lands in an address bar or a log.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from alerts.muting.silences import Silence, SilenceStore
from klaxon.api.services import services_of
from klaxon.console.alert_silence import NoSuchAlert, alert_matchers
from klaxon.console.guard import Refused, Viewer, Writer
from klaxon.console.live_alerts import FiringRow, firing_rows
from klaxon.console.render import duration, page, redirect
from klaxon.console.silence_form import (
    SilenceForm,
    check,
    would_mute,
)

router = APIRouter()

# Bounds on what a form may send; the form's own checks name the field before these bite.
_TEXT = 20_000


@dataclass(frozen=True)
class SilenceRow:
    silence: Silence
    state: str
    now: float

    @property
    def remaining(self) -> float | None:
        return self.silence.ends_at - self.now if self.state == "active" else None


@router.get("/silences", response_class=HTMLResponse)
def silences(request: Request, session: Viewer, expired: bool = False) -> HTMLResponse:
    now = time.time()
    rows = [
        SilenceRow(silence, silence.state(now), now)
        for silence in SilenceStore(services_of(request).redis).all()
    ]
    shown = [row for row in rows if expired or row.state != "expired"]
    shown.sort(key=lambda row: (row.state == "expired", -row.silence.starts_at))
    return page(
        request,
        "silences.html",
        nav="Silences",
        rows=shown,
        expired=expired,
        hidden=sum(1 for row in rows if row.state == "expired") if not expired else 0,
        now=now,
    )


@router.get("/silences/new", response_class=HTMLResponse)
def new_silence(
    request: Request, session: Viewer, alert_id: Annotated[str, Query(max_length=200)] = ""
) -> HTMLResponse:
    """The form; pre-filled for ``alert_id``, with what it would mute shown at once."""
    if not alert_id:
        return _form_page(request, SilenceForm())
    form, note = prefilled_form(request, alert_id)
    return _previewed(request, form, note)


@router.post("/silences/preview", response_class=HTMLResponse)
def preview_silence(
    request: Request,
    session: Viewer,
    matchers: Annotated[str, Form(max_length=_TEXT)] = "",
    duration_text: Annotated[str, Form(alias="duration", max_length=200)] = "",
    comment: Annotated[str, Form(max_length=_TEXT)] = "",
) -> HTMLResponse:
    """The form again, with the active alerts it would mute; nothing is stored."""
    return _previewed(request, SilenceForm(matchers, duration_text, comment))


def _previewed(request: Request, form: SilenceForm, note: str = "") -> HTMLResponse:
    checked = check(form)
    if checked.problems:
        return _form_page(request, form, note=note, problems=checked.problems, status=422)
    rows = would_mute(firing_rows(services_of(request).redis), checked.matchers)
    return _form_page(request, form, note=note, previewed=True, matches=rows)


@router.post("/silences", response_class=HTMLResponse, response_model=None)
def create_silence(
    request: Request,
    session: Writer,
    matchers: Annotated[str, Form(max_length=_TEXT)] = "",
    duration_text: Annotated[str, Form(alias="duration", max_length=200)] = "",
    comment: Annotated[str, Form(max_length=_TEXT)] = "",
) -> HTMLResponse | RedirectResponse:
    form = SilenceForm(matchers, duration_text, comment)
    checked = check(form)
    if checked.problems:
        return _form_page(request, form, problems=checked.problems, status=422)
    added = SilenceStore(services_of(request).redis).add(
        checked.texts, checked.seconds, comment.strip(), created_by=session.user or ""
    )
    return redirect(
        request,
        "/silences",
        f"Silence {added.id} created for {duration(checked.seconds)}: {', '.join(added.matchers)}.",
    )


@router.post("/silences/{silence_id}/expire", response_class=RedirectResponse)
def expire_silence(request: Request, session: Writer, silence_id: str) -> RedirectResponse:
    ended = SilenceStore(services_of(request).redis).expire(
        silence_id, time.time(), by=session.user or ""
    )
    if ended is None:
        raise Refused(404, "No such silence", f"No silence {silence_id!r}: nothing expired.")
    return redirect(request, "/silences", f"Silence {silence_id} expired.")


def _form_page(
    request: Request,
    form: SilenceForm,
    *,
    note: str = "",
    problems: dict[str, list[str]] | None = None,
    previewed: bool = False,
    matches: list[FiringRow] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "silence_new.html",
        status=status,
        nav="Silences",
        form=form,
        note=note,
        problems=problems or {},
        previewed=previewed,
        matches=matches or [],
        now=time.time(),
    )


def prefilled_form(request: Request, alert_id: str) -> tuple[SilenceForm, str]:
    """The form pre-filled to silence one live alert, and a note when it cannot single it
    out (klaxon.console.alert_silence); 404 when the alert is not live."""
    s = services_of(request)
    try:
        found = alert_matchers(s.redis, s.rules_path, s.default_topic, alert_id)
    except NoSuchAlert:
        raise Refused(
            404, "No such alert", f"No live alert {alert_id!r}: it resolved or never fired."
        ) from None
    note = found.note and f"{found.note} Narrow it with a matcher on the event before creating it."
    return SilenceForm("\n".join(found.matchers)), note
