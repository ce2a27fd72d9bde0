"""Silences: add one, list them, expire one (the store of alerts.muting.silences)."""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from alerts.muting.silences import Silence, SilenceStore
from contract.durations import parse_duration
from klaxon.api import schemas
from klaxon.api.auth import Read, Write
from klaxon.api.errors import ERRORS, FORBIDDEN, NOT_FOUND, ApiError
from klaxon.api.params import PathId
from klaxon.api.services import services_of
from rules.matchers import MatcherError, parse_matcher

router = APIRouter()

# A silence longer than a year is almost surely a typo (and a huge number would overflow).
MAX_SECONDS = 366 * 24 * 3600.0


@router.post(
    "/silences",
    status_code=201,
    response_model=schemas.Silence,
    responses={**ERRORS, **FORBIDDEN},
)
def add(request: Request, _: Write, body: schemas.SilenceBody) -> schemas.Silence:
    """Add a silence from now: every notification its matchers all match is muted."""
    for index, matcher in enumerate(body.matchers):
        try:
            parse_matcher(matcher)
        except MatcherError as exc:
            raise ApiError(422, str(exc), f"body.matchers[{index}]") from None
    seconds = _seconds(body.duration)
    added = SilenceStore(services_of(request).redis).add(
        body.matchers, seconds, body.comment, body.by
    )
    return _shown(added, time.time())


@router.get("/silences", response_model=schemas.SilenceList, responses=ERRORS)
def silences(
    request: Request,
    _: Read,
    show_all: Annotated[bool, Query(alias="all", description="Expired ones too")] = False,
) -> schemas.SilenceList:
    """The active and pending silences; with ``all=true`` the expired ones still kept too."""
    now = time.time()
    return schemas.SilenceList(
        items=[
            _shown(silence, now)
            for silence in SilenceStore(services_of(request).redis).all()
            if show_all or silence.ends_at > now
        ]
    )


@router.post(
    "/silences/{silence_id}/expire",
    response_model=schemas.Silence,
    responses={**ERRORS, **NOT_FOUND, **FORBIDDEN},
)
def expire(
    request: Request, _: Write, silence_id: PathId, body: schemas.ExpireBody | None = None
) -> schemas.Silence:
    """End a silence now (ending an expired one again changes nothing)."""
    reason = body or schemas.ExpireBody()
    now = time.time()
    ended = SilenceStore(services_of(request).redis).expire(
        silence_id, now, by=reason.by, reason=reason.comment
    )
    if ended is None:
        raise ApiError(404, f"no silence {silence_id!r}", "path.silence_id")
    return _shown(ended, now)


def _seconds(duration: str | float) -> float:
    if isinstance(duration, str):
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise ApiError(422, str(exc), "body.duration") from None
    else:
        seconds = float(duration)
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        raise ApiError(
            422, f"must be longer than 0s and at most {MAX_SECONDS:.0f}s", "body.duration"
        )
    return seconds


def _shown(silence: Silence, now: float) -> schemas.Silence:
    return schemas.Silence(
        id=silence.id,
        matchers=list(silence.matchers),
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        comment=silence.comment,
        created_by=silence.created_by,
        state=silence.state(now),
    )
