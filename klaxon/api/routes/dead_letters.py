"""Dead letters: list, read one, requeue one, purge one.

Letters are shown with their ack and silence links masked (``DeadLetter.masked``): a
reader of dead letters may not be allowed to ack or silence.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from klaxon.api import schemas
from klaxon.api.auth import Read, Write
from klaxon.api.errors import ERRORS, FORBIDDEN, NOT_FOUND, ApiError
from klaxon.api.params import Ident, PathId
from klaxon.api.services import services_of
from tasks.deadletters import DeadLetterStore

router = APIRouter()


@router.get("/dead-letters", response_model=schemas.DeadLetterList, responses=ERRORS)
def dead_letters(
    request: Request, _: Read, channel: Ident = None, rule_id: Ident = None
) -> schemas.DeadLetterList:
    """Notifications that failed permanently or ran out of retries, oldest first."""
    store = DeadLetterStore(services_of(request).redis)
    return schemas.DeadLetterList(
        items=[
            schemas.DeadLetter.model_validate(letter.masked())
            for letter in store
            if (channel is None or letter.channel == channel)
            and (rule_id is None or letter.rule_id == rule_id)
        ]
    )


@router.get(
    "/dead-letters/{letter_id}",
    response_model=schemas.DeadLetter,
    responses={**ERRORS, **NOT_FOUND},
)
def dead_letter(request: Request, _: Read, letter_id: PathId) -> schemas.DeadLetter:
    """One dead letter in full."""
    letter = DeadLetterStore(services_of(request).redis).get(letter_id)
    if letter is None:
        raise ApiError(404, f"no dead letter {letter_id!r}", "path.letter_id")
    return schemas.DeadLetter.model_validate(letter.masked())


@router.post(
    "/dead-letters/{letter_id}/requeue",
    response_model=schemas.Requeued,
    responses={**ERRORS, **NOT_FOUND, **FORBIDDEN},
)
def requeue(request: Request, _: Write, letter_id: PathId) -> schemas.Requeued:
    """Send a dead letter again under its own id (the sent-ledger still holds)."""
    s = services_of(request)
    if not s.requeue(DeadLetterStore(s.redis), letter_id):
        raise ApiError(404, f"no dead letter {letter_id!r}", "path.letter_id")
    return schemas.Requeued(requeued=letter_id)


@router.delete(
    "/dead-letters/{letter_id}",
    response_model=schemas.Purged,
    responses={**ERRORS, **NOT_FOUND, **FORBIDDEN},
)
def purge(request: Request, _: Write, letter_id: PathId) -> schemas.Purged:
    """Delete one dead letter."""
    if not DeadLetterStore(services_of(request).redis).remove(letter_id):
        raise ApiError(404, f"no dead letter {letter_id!r}", "path.letter_id")
    return schemas.Purged(purged=letter_id)
