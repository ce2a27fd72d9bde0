"""The firing page: alerts open now, who is on them, and ack / unack / reject buttons."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from alerts.acks import ACTIONS, AckBook, AckError
from contract.outbox import Kind
from klaxon.api.services import services_of
from klaxon.console.guard import Refused, Viewer, Writer, local_path
from klaxon.console.live_alerts import firing_rows
from klaxon.console.render import page, redirect

router = APIRouter()

# What a person may give as a reason to reject a hit (the API takes any text).
REJECT_REASONS = ("misread", "wrong-entry", "duplicate", "test")
_DONE = {Kind.ACK: "Acknowledged", Kind.UNACK: "Unacknowledged", Kind.REJECT: "Rejected"}


_PRIORITY_ORDER = {"high": 0, "critical": 0, "medium": 1, "warning": 1, "low": 2}


@router.get("/", response_class=HTMLResponse)
def firing(
    request: Request,
    session: Viewer,
    rule_id: Annotated[str, Query(max_length=200)] = "",
    device: Annotated[str, Query(max_length=200)] = "",
    camera: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    rows = [
        row
        for row in firing_rows(services_of(request).redis)
        if (not rule_id or row.alert.rule_id == rule_id)
        and (not device or device.lower() in row.alert.device_id.lower())
        and (not camera or row.camera == camera)
    ]
    rows.sort(key=lambda r: (_PRIORITY_ORDER.get(r.priority, 3), -r.alert.triggered_at))
    return page(
        request,
        "firing.html",
        nav="Firing",
        rows=rows,
        now=time.time(),
        filters={"rule_id": rule_id, "device": device, "camera": camera},
        reasons=REJECT_REASONS,
    )


@router.post("/alerts/{alert_id}/{action}", response_class=RedirectResponse)
def act(
    request: Request,
    session: Writer,
    alert_id: str,
    action: str,
    note: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form()] = "/",
) -> RedirectResponse:
    """Ack, unack or reject as the signed-in user; the page says what happened."""
    if action not in ACTIONS:
        raise Refused(404, "No such action", f"{action!r} is not ack, unack or reject.")
    if action == "reject" and not note:
        raise Refused(422, "A reason is needed", "Choose why this hit is rejected.")
    assert session.user is not None  # a Writer is signed in
    book = AckBook(services_of(request).redis)
    try:
        state = book.act(Kind(action), alert_id, session.user, note, time.time())
    except AckError as exc:
        return redirect(request, local_path(back), f"Not done: {exc}")
    done = _DONE[Kind(action)]
    return redirect(request, local_path(back), f"{done} {alert_id[:8]}: now {state.value}.")
