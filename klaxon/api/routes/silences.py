"""Silences: add one, list them, expire one (the store of alerts.muting.silences)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from alerts.muting.silences import Silence, SilenceStore
from klaxon.api import schemas
from klaxon.api.auth import Read, Write
from klaxon.api.errors import ERRORS, FORBIDDEN, NOT_FOUND, ApiError
from klaxon.api.params import PathId
from klaxon.api.services import services_of
from klaxon.api.silence_input import DurationError, parse_matchers, silence_seconds

router = APIRouter()


@router.post(
    "/silences",
    status_code=201,
    response_model=schemas.Silence,
    responses={**ERRORS, **FORBIDDEN},
)
def add(request: Request, _: Write, body: schemas.SilenceBody) -> schemas.Silence:
    """Add a silence from now: every notification its matchers all match is muted."""
    problems = parse_matchers(body.matchers)[1]
    if problems:
        index, message = problems[0]
        raise ApiError(422, message, f"body.matchers[{index}]")
    try:
        seconds = silence_seconds(body.duration)
    except DurationError as exc:
        raise ApiError(422, str(exc), "body.duration") from None
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
