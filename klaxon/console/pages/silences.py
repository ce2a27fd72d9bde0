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

from alerts.acks import AckBook
from alerts.muting.silences import Silence, SilenceStore
from alerts.store import AlertStore
from klaxon.api.services import services_of
from klaxon.console.guard import Refused, Viewer, Writer
from klaxon.console.pages.firing import FiringRow, event_of, firing_rows
from klaxon.console.render import duration, page, redirect
from klaxon.console.silence_form import (
    SilenceForm,
    alert_subject,
    check,
    would_mute,
)
from rules.config import check_config
from rules.matchers import parse_matcher
from rules.model import DEFAULT_DEDUP_KEY, Rule
from rules.stateful import DEFAULT_THRESHOLD_STATE_KEY, StatefulRule

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
    rows = would_mute(firing_rows(request), checked.matchers)
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
    """Matchers for one alert: its rule, and its key on the event path the rule keys on,
    as the alert's notifications carry it. The note says when the key cannot be matched."""
    client = services_of(request).redis
    alert = AlertStore(client).get(alert_id)
    if alert is None:
        raise Refused(
            404, "No such alert", f"No live alert {alert_id!r}: it resolved or never fired."
        )
    (fields,) = AckBook(client).fields_of([alert_id])
    row = FiringRow(alert, None, str(alert.metadata.get("priority", "")), event_of(fields))
    rule_line = f"rule_id={alert.rule_id}"
    path = _key_path(request, alert.rule_id, alert.kind)
    key_line = f"{path}={alert.device_id}"
    if "\n" not in alert.device_id and parse_matcher(key_line).matches(alert_subject(row)):
        return SilenceForm(f"{rule_line}\n{key_line}"), ""
    return SilenceForm(rule_line), (
        f"The event of this alert has no {path} field holding its key "
        f"{alert.device_id!r}, so only its rule is matched: this silence would mute every "
        f"alert of {alert.rule_id}. Narrow it with a matcher on the event before creating it."
    )


def _key_path(request: Request, rule_id: str, kind: str) -> str:
    """The event path that holds an alert's key: a stateful rule's ``state_key``, a hit
    rule's ``dedup_key``; the defaults when the rule is no longer in the rules file."""
    s = services_of(request)
    config, _ = check_config(s.rules_path, default_topic=s.default_topic)
    rule = next((r for r in (config.rules if config else ()) if r.id == rule_id), None)
    if isinstance(rule, StatefulRule):
        return rule.state_key
    if isinstance(rule, Rule):
        return rule.rate_limit.dedup_key if rule.rate_limit else DEFAULT_DEDUP_KEY
    return DEFAULT_DEDUP_KEY if kind == "hit" else DEFAULT_THRESHOLD_STATE_KEY
