"""One alert: what it is, its ack state and buttons, and everything that happened to it.

The timeline merges the history database's steps (trigger, ack, reminder, escalation,
resolve), its notifications with every delivery attempt, and the silences that muted
them, in time order. Where the recorder has not written the alert yet, Redis's live
records stand in, so a just-fired alert has a page at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from alerts.acks import AckBook
from alerts.store import AlertStore
from history.queries import NotificationFilter
from history.views import alert_view
from klaxon.api.services import services_of
from klaxon.console.guard import Refused, Viewer
from klaxon.console.pages.firing import REJECT_REASONS
from klaxon.console.render import page

router = APIRouter()

# Enough for any one alert's life; a page of more would not be read anyway.
MAX_NOTIFICATIONS = 200


@dataclass(frozen=True)
class Step:
    at: float
    kind: str
    actor: str = ""
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, session: Viewer, alert_id: str) -> HTMLResponse:
    s = services_of(request)
    live = AlertStore(s.redis).get(alert_id)
    book = AckBook(s.redis)
    ack = book.get(alert_id)
    row = s.history.alert(alert_id)
    if row is None and live is None and ack is None:
        raise Refused(404, "No such alert", f"No alert {alert_id!r} in Redis or the history.")
    summary: dict[str, Any] = dict(alert_view(row)) if row is not None else {}
    if live is not None:
        summary = {**summary, **live.as_json_object(), "metadata": dict(live.metadata)}
    steps = _steps(request, alert_id, has_history=row is not None)
    if row is None:  # the recorder has not caught up: the ack book's own history
        steps += [
            Step(float(str(e.get("at", 0))), str(e.get("action", "")), str(e.get("by", "")))
            for e in book.history(alert_id)
        ]
    steps.sort(key=lambda step: step.at)
    return page(
        request,
        "alert.html",
        nav="Firing",
        alert_id=alert_id,
        summary=summary,
        ack=ack,
        steps=steps,
        now=time.time(),
        reasons=REJECT_REASONS,
    )


def _steps(request: Request, alert_id: str, has_history: bool) -> list[Step]:
    history = services_of(request).history
    steps = [
        Step(t.at, t.kind, t.actor, t.note, dict(t.detail)) for t in history.timeline(alert_id)
    ]
    if not has_history and not steps:
        return steps
    notes = history.notifications(
        NotificationFilter(alert_id=alert_id), limit=MAX_NOTIFICATIONS
    ).items
    attempts = history.attempts_of([n.id for n in notes])
    for n in notes:
        steps.append(
            Step(
                n.created_at,
                f"notification {n.status}",
                n.channel,
                n.reason,
                {"id": n.id, "transition": n.transition, "recipients": list(n.recipients)},
            )
        )
        for number, attempt in enumerate(attempts.get(n.id, []), 1):
            steps.append(
                Step(
                    attempt.started_at or attempt.finished_at or n.created_at,
                    f"attempt {number}: {attempt.outcome}",
                    n.channel,
                    attempt.error or attempt.reason,
                    {"notification": n.id},
                )
            )
    return steps
