"""Rules: the rules file as it is now (checked on each visit, as GET /api/v1/rules does),
and the bridge's last reload: when, and whether the new rules run or why not."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from contract.reloads import last_reload
from klaxon.api.rules_report import rules_report
from klaxon.api.services import services_of
from klaxon.console.guard import Viewer
from klaxon.console.render import page

router = APIRouter()


@router.get("/rules", response_class=HTMLResponse)
def rules(request: Request, session: Viewer) -> HTMLResponse:
    s = services_of(request)
    return page(
        request,
        "rules.html",
        nav="Rules",
        report=rules_report(s.rules_path, s.default_topic),
        reload=last_reload(s.redis),
        now=time.time(),
    )
