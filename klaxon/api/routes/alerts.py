"""Alerts: the live ones, the history, one with its timeline, and ack/unack/reject."""

from __future__ import annotations

import time

import redis
from fastapi import APIRouter, Request

from alerts.acks import AckBook, AckError, AckRecord, AckState
from alerts.store import AlertEvent, AlertStore
from contract.outbox import Kind
from history.models import AlertEventRow
from history.queries import AlertFilter
from history.views import alert_view, timeline_view
from klaxon.api import schemas
from klaxon.api.auth import Read, Write
from klaxon.api.errors import BAD_CURSOR, CONFLICT, ERRORS, FORBIDDEN, NOT_FOUND, ApiError
from klaxon.api.params import Cursor, Ident, Limit, PathId, Since
from klaxon.api.services import services_of

router = APIRouter()

# An AckError's verdict -> the status it is answered with (anything else: 409).
_ACK_STATUS = {"unknown": 404, "ambiguous": 404}
_ACK_RESPONSES = {**ERRORS, **NOT_FOUND, **FORBIDDEN, **CONFLICT}


@router.get("/alerts/active", response_model=list[schemas.Alert], responses=ERRORS)
def active_alerts(request: Request, _: Read) -> list[schemas.Alert]:
    """Alerts firing now (Redis's live state), oldest first, with who acknowledged them."""
    client = services_of(request).redis
    active = AlertStore(client).active()
    acks = AckBook(client).get_many([e.id for e in active])
    return [_live_alert(e, acks.get(e.id)) for e in active]


@router.get("/alerts", response_model=schemas.AlertPage, responses={**ERRORS, **BAD_CURSOR})
def alerts(
    request: Request,
    _: Read,
    rule_id: Ident = None,
    device_id: Ident = None,
    since: Since = None,
    resolved: bool | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> schemas.AlertPage:
    """Alert history, newest first, a page at a time."""
    where = AlertFilter(rule_id=rule_id, device_id=device_id, since=since, resolved=resolved)
    page = services_of(request).history.alerts(where, limit=limit, cursor=cursor)
    return schemas.AlertPage(
        items=[schemas.Alert.model_validate(_alert_fields(r)) for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/alerts/{alert_id}",
    response_model=schemas.AlertDetail,
    responses={**ERRORS, **NOT_FOUND},
)
def alert(request: Request, _: Read, alert_id: PathId) -> schemas.AlertDetail:
    """One alert and its timeline: trigger, acks, escalations, resolve."""
    history = services_of(request).history
    row = history.alert(alert_id)
    if row is None:
        raise ApiError(404, f"no alert {alert_id!r} in the history", "path.alert_id")
    return schemas.AlertDetail(
        alert=schemas.Alert.model_validate(_alert_fields(row)),
        timeline=[
            schemas.TimelineStep.model_validate(timeline_view(t))
            for t in history.timeline(alert_id)
        ],
    )


@router.post("/alerts/{alert_id}/ack", response_model=schemas.AckResult, responses=_ACK_RESPONSES)
def ack(request: Request, _: Write, alert_id: PathId, body: schemas.AckBody) -> schemas.AckResult:
    """Acknowledge an open alert or hit: its reminders and escalation steps stop."""
    return _act(services_of(request).redis, "ack", alert_id, body.by, body.comment)


@router.post("/alerts/{alert_id}/unack", response_model=schemas.AckResult, responses=_ACK_RESPONSES)
def unack(request: Request, _: Write, alert_id: PathId, body: schemas.AckBody) -> schemas.AckResult:
    """Take an acknowledgement back: the alert is open again and its reminders resume."""
    return _act(services_of(request).redis, "unack", alert_id, body.by, body.comment)


@router.post(
    "/alerts/{alert_id}/reject", response_model=schemas.AckResult, responses=_ACK_RESPONSES
)
def reject(
    request: Request, _: Write, alert_id: PathId, body: schemas.RejectBody
) -> schemas.AckResult:
    """Reject a hit (a misread plate, a wrong hotlist entry): it closes, with the reason."""
    return _act(services_of(request).redis, "reject", alert_id, body.by, body.reason)


def _act(client: redis.Redis, action: str, alert_id: str, by: str, note: str) -> schemas.AckResult:
    """One ack action by exact id (as alerts.acks does it for the CLI); errors as JSON."""
    at = time.time()
    try:
        state = AckBook(client).act(Kind(action), alert_id, by, note, at)
    except AckError as exc:
        raise ApiError(_ACK_STATUS.get(exc.verdict, 409), str(exc), "path.alert_id") from None
    return schemas.AckResult(alert_id=alert_id, state=state.value, by=by, at=at)


def _alert_fields(row: AlertEventRow) -> dict[str, object]:
    view = alert_view(row)
    view.pop("metadata")
    return dict(view)


def _live_alert(event: AlertEvent, ack: AckRecord | None) -> schemas.Alert:
    acknowledged = ack is not None and ack.state is AckState.ACKNOWLEDGED
    return schemas.Alert(
        id=event.id,
        rule_id=event.rule_id,
        device_id=event.device_id,
        kind=event.kind,
        metric=event.metric,
        operator=event.operator,
        threshold_value=event.threshold_value,
        current_value=event.current_value,
        triggered_at=event.triggered_at,
        is_resolved=event.is_resolved,
        resolved_at=event.resolved_at,
        resolution_value=event.resolution_value,
        duration_seconds=event.duration,
        acknowledged_at=ack.at if acknowledged and ack else None,
        acknowledged_by=ack.by if acknowledged and ack else None,
    )
