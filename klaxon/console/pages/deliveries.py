"""Deliveries: the notification log, newest first, with the status per channel; one
notification with every delivery attempt."""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from contract.outbox import NotificationStatus
from history.queries import NotificationFilter
from klaxon.api.services import services_of
from klaxon.console.guard import Refused, Viewer
from klaxon.console.paging import PAGE_SIZE, pager, read_page
from klaxon.console.render import page

router = APIRouter()

STATUSES = tuple(status.value for status in NotificationStatus)
_Text = Annotated[str, Query(max_length=200)]


@router.get("/deliveries", response_class=HTMLResponse)
def deliveries(
    request: Request,
    session: Viewer,
    channel: _Text = "",
    status: _Text = "",
    rule_id: _Text = "",
    alert_id: _Text = "",
    cursor: _Text = "",
) -> HTMLResponse:
    if status and status not in STATUSES:
        raise Refused(
            422, "Unknown status", f"Status {status!r} is not one of {', '.join(STATUSES)}."
        )
    filters = {"channel": channel, "status": status, "rule_id": rule_id, "alert_id": alert_id}
    where = NotificationFilter(
        channel=channel or None,
        status=status or None,
        rule_id=rule_id or None,
        alert_id=alert_id or None,
    )
    history = services_of(request).history
    found = read_page(lambda: history.notifications(where, PAGE_SIZE, cursor or None))
    # Counts of the rows shown, not of the whole log: a count over all of it would cost a
    # scan of the table on every refresh.
    summary: dict[str, Counter[str]] = {}
    for row in found.items:
        summary.setdefault(row.channel, Counter())[row.status] += 1
    return page(
        request,
        "deliveries.html",
        nav="Deliveries",
        rows=found.items,
        filters=filters,
        statuses=STATUSES,
        summary=sorted(summary.items()),
        pager=pager("/deliveries", filters, cursor, found.next_cursor),
        now=time.time(),
    )


@router.get("/deliveries/{notification_id}", response_class=HTMLResponse)
def delivery(request: Request, session: Viewer, notification_id: str) -> HTMLResponse:
    history = services_of(request).history
    row = history.notification(notification_id)
    if row is None:
        raise Refused(
            404,
            "No such notification",
            f"No notification {notification_id!r} in the history (the recorder may not "
            "have written it yet).",
        )
    return page(
        request,
        "delivery.html",
        nav="Deliveries",
        row=row,
        attempts=history.attempts(notification_id),
        now=time.time(),
    )
