"""Notifications: the history, and one with every delivery attempt."""

from __future__ import annotations

from fastapi import APIRouter, Request

from contract.outbox import NotificationStatus
from history.queries import NotificationFilter
from history.views import attempt_view, notification_view
from klaxon.api import schemas
from klaxon.api.auth import Read
from klaxon.api.errors import BAD_CURSOR, ERRORS, NOT_FOUND, ApiError
from klaxon.api.params import Cursor, Ident, Limit, PathId, Since
from klaxon.api.services import services_of

router = APIRouter()


@router.get(
    "/notifications",
    response_model=schemas.NotificationPage,
    responses={**ERRORS, **BAD_CURSOR},
)
def notifications(
    request: Request,
    _: Read,
    rule_id: Ident = None,
    channel: Ident = None,
    status: NotificationStatus | None = None,
    alert_id: Ident = None,
    since: Since = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> schemas.NotificationPage:
    """Notifications, newest first: where each went and how it ended."""
    where = NotificationFilter(
        rule_id=rule_id,
        channel=channel,
        status=None if status is None else status.value,
        since=since,
        alert_id=alert_id,
    )
    page = services_of(request).history.notifications(where, limit=limit, cursor=cursor)
    return schemas.NotificationPage(
        items=[schemas.Notification.model_validate(notification_view(r)) for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/notifications/{notification_id}",
    response_model=schemas.NotificationDetail,
    responses={**ERRORS, **NOT_FOUND},
)
def notification(request: Request, _: Read, notification_id: PathId) -> schemas.NotificationDetail:
    """One notification with every delivery attempt, in order."""
    history = services_of(request).history
    row = history.notification(notification_id)
    if row is None:
        raise ApiError(
            404, f"no notification {notification_id!r} in the history", "path.notification_id"
        )
    return schemas.NotificationDetail(
        notification=schemas.Notification.model_validate(notification_view(row)),
        attempts=[
            schemas.Attempt.model_validate(attempt_view(i, a))
            for i, a in enumerate(history.attempts(notification_id), 1)
        ],
    )
