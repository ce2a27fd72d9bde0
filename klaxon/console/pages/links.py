"""The pages behind the signed links in notifications: ack this alert, silence it.

A link is its own authority (the bridge signs it with ``KLAXON_CONSOLE_SECRET``,
``contract.ack_links``), so it needs no sign-in; it works once, and until it expires.
Opening a link changes nothing: the page says what the link does and has one button.
Mail scanners and chat previews fetch links before a person does, and an ack done by a
scanner would quiet an alert nobody saw. The button's form carries the visitor's CSRF
token like every other form.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from alerts.acks import AckBook, AckError, AckState
from alerts.muting.silences import SilenceStore
from alerts.store import AlertStore
from contract.ack_links import LinkAction, LinkClaim, LinkError, claim_once, used_key
from contract.durations import parse_duration
from klaxon.api.services import services_of
from klaxon.console.alert_silence import AlertMatchers, NoSuchAlert, alert_matchers
from klaxon.console.guard import AnyVisitor, Refused, console_of
from klaxon.console.render import page

router = APIRouter()

# A silence from a link is short by design: a longer one is made signed in, with a reason.
SILENCE_CHOICES = ("30m", "1h", "4h", "12h", "24h")
DEFAULT_SILENCE = "1h"  # what the Slack button says
NAME_LIMIT = 100


def _verified(request: Request, token: str, action: LinkAction) -> LinkClaim:
    try:
        claim = console_of(request).links.verify(token, action)
    except LinkError as exc:
        if exc.reason == "expired":
            raise Refused(410, "This link has expired", str(exc)) from None
        raise Refused(400, "This link is not valid", str(exc)) from None
    if services_of(request).redis.exists(used_key(token)):
        raise _used()
    return claim


def _used() -> Refused:
    return Refused(
        410,
        "This link was already used",
        "Each link in a notification works once. Sign in to the console to see the alert "
        "as it is now.",
    )


def _spend(request: Request, claim: LinkClaim) -> None:
    """Mark the link used; refuse if someone (another tab, a second click) was first."""
    if not claim_once(services_of(request).redis, claim, console_of(request).links.ttl_seconds):
        raise _used()


def _who(name: str, via: str) -> str:
    name = " ".join(name.split())[:NAME_LIMIT]
    return f"{name} ({via})" if name else via


def _matchers_of(request: Request, alert_id: str) -> AlertMatchers:
    """The alert's own matchers; refused when they would not single it out (a link may
    not silence a whole rule: that is for someone signed in, who sees what it mutes)."""
    s = services_of(request)
    try:
        found = alert_matchers(s.redis, s.rules_path, s.default_topic, alert_id)
    except NoSuchAlert:
        raise Refused(
            404, "No such alert", "The alert has resolved, or never fired: nothing to silence."
        ) from None
    if not found.exact:
        raise Refused(
            409,
            "This alert cannot be silenced from a link",
            f"{found.note} Sign in to the console to make a silence that fits it.",
        )
    return found


@router.get("/ack/{token}", response_class=HTMLResponse)
def ack_link(request: Request, token: str) -> HTMLResponse:
    claim = _verified(request, token, LinkAction.ACK)
    client = services_of(request).redis
    ack = AckBook(client).get(claim.alert_id)
    if ack is None:
        raise Refused(
            409,
            "This alert cannot be acknowledged",
            "Only hits of rules with acknowledge: true and threshold alerts are acknowledged; "
            "this one ends by itself when its condition clears.",
        )
    return page(
        request,
        "link_ack.html",
        token=token,
        alert=AlertStore(client).get(claim.alert_id),
        ack=ack,
        can_ack=ack.state is AckState.OPEN,
        issued_at=claim.issued_at,
        now=time.time(),
    )


@router.post("/ack/{token}", response_class=HTMLResponse)
def ack_by_link(
    request: Request,
    _: AnyVisitor,
    token: str,
    name: Annotated[str, Form(max_length=NAME_LIMIT * 2)] = "",
) -> HTMLResponse:
    claim = _verified(request, token, LinkAction.ACK)
    _spend(request, claim)
    by = _who(name, "ack link")
    try:
        state = AckBook(services_of(request).redis).ack(claim.alert_id, by, "", time.time())
    except AckError as exc:
        raise Refused(409, "Not acknowledged", str(exc)) from None
    return page(
        request,
        "link_done.html",
        title="Acknowledged",
        message=f"Alert {claim.alert_id[:8]} is {state.value} by {by}: its reminders and "
        "escalation steps stop.",
        alert_id=claim.alert_id,
    )


@router.get("/silence-link/{token}", response_class=HTMLResponse)
def silence_link(request: Request, token: str) -> HTMLResponse:
    claim = _verified(request, token, LinkAction.SILENCE)
    found = _matchers_of(request, claim.alert_id)
    return page(
        request,
        "link_silence.html",
        token=token,
        alert=AlertStore(services_of(request).redis).get(claim.alert_id),
        matchers=found.matchers,
        choices=SILENCE_CHOICES,
        chosen=DEFAULT_SILENCE,
    )


@router.post("/silence-link/{token}", response_class=HTMLResponse)
def silence_by_link(
    request: Request,
    _: AnyVisitor,
    token: str,
    duration: Annotated[str, Form()] = DEFAULT_SILENCE,
    comment: Annotated[str, Form(max_length=2000)] = "",
    name: Annotated[str, Form(max_length=NAME_LIMIT * 2)] = "",
) -> HTMLResponse:
    claim = _verified(request, token, LinkAction.SILENCE)
    if duration not in SILENCE_CHOICES:
        raise Refused(422, "Choose a duration", f"A link silences for one of {SILENCE_CHOICES}.")
    # The matchers come from the alert, never from the form: a link silences its alert only.
    found = _matchers_of(request, claim.alert_id)
    _spend(request, claim)
    by = _who(name, "silence link")
    silence = SilenceStore(services_of(request).redis).add(
        found.matchers, parse_duration(duration), comment, created_by=by
    )
    return page(
        request,
        "link_done.html",
        title="Silenced",
        message=f"Silence {silence.id} mutes {', '.join(silence.matchers)} for {duration}.",
        alert_id=claim.alert_id,
    )
