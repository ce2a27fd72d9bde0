"""GET /rules: the rules file as it is now, and its validation report."""

from __future__ import annotations

from fastapi import APIRouter, Request

from klaxon.api import schemas
from klaxon.api.auth import Read
from klaxon.api.errors import ERRORS
from klaxon.api.rules_report import rules_report
from klaxon.api.services import services_of

router = APIRouter()


@router.get("/rules", response_model=schemas.Rules, responses=ERRORS)
def rules(request: Request, _: Read) -> schemas.Rules:
    """The rules file as it is now, and its validation report (no channel settings)."""
    s = services_of(request)
    return rules_report(s.rules_path, s.default_topic)
