"""History: alerts as the history database recorded them, newest first, a page at a time."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from contract.durations import parse_duration
from history.queries import AlertFilter
from klaxon.api.services import services_of
from klaxon.console.guard import Refused, Viewer
from klaxon.console.paging import PAGE_SIZE, pager, read_page
from klaxon.console.render import page

router = APIRouter()

_Text = Annotated[str, Query(max_length=200)]
_RESOLVED = {"": None, "yes": True, "no": False}


@router.get("/history", response_class=HTMLResponse)
def history(
    request: Request,
    session: Viewer,
    rule_id: _Text = "",
    device_id: _Text = "",
    within: _Text = "",
    resolved: _Text = "",
    cursor: _Text = "",
) -> HTMLResponse:
    """``within``: only alerts triggered in the last 2h, 7d...; ``resolved``: yes or no."""
    if resolved not in _RESOLVED:
        raise Refused(422, "Bad filter", f"Resolved is yes, no or empty, not {resolved!r}.")
    since = None
    if within:
        try:
            since = time.time() - parse_duration(within)
        except ValueError as exc:
            raise Refused(422, "Bad filter", f"Within {within!r}: {exc}.") from None
    filters = {"rule_id": rule_id, "device_id": device_id, "within": within, "resolved": resolved}
    where = AlertFilter(
        rule_id=rule_id or None,
        device_id=device_id or None,
        since=since,
        resolved=_RESOLVED[resolved],
    )
    store = services_of(request).history
    found = read_page(lambda: store.alerts(where, PAGE_SIZE, cursor or None))
    return page(
        request,
        "history.html",
        nav="History",
        rows=found.items,
        filters=filters,
        pager=pager("/history", filters, cursor, found.next_cursor),
        now=time.time(),
    )
