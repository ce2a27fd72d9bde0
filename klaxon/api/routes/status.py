"""GET /status: whether Redis and the history database answer, and the sizes that matter."""

from __future__ import annotations

import redis
from fastapi import APIRouter, Request
from sqlalchemy.exc import SQLAlchemyError

from alerts.store import AlertStore
from contract import __version__
from contract.outbox import OUTBOX_STREAM
from history.queries import History
from klaxon.api import schemas
from klaxon.api.auth import Read
from klaxon.api.errors import ERRORS
from klaxon.api.services import services_of
from tasks.deadletters import DeadLetterStore

router = APIRouter()


@router.get("/status", response_model=schemas.Status, responses=ERRORS)
def status(request: Request, _: Read) -> schemas.Status:
    """Whether Redis and the database answer, and the sizes that matter."""
    s = services_of(request)
    redis_ok, outbox, active, dead = True, None, None, None
    try:
        outbox = int(s.redis.xlen(OUTBOX_STREAM))
        active = len(AlertStore(s.redis).active())
        dead = DeadLetterStore(s.redis).count()
    except redis.RedisError:
        redis_ok = False
    return schemas.Status(
        version=__version__,
        redis=redis_ok,
        database=_database_answers(s.history),
        outbox_length=outbox,
        active_alerts=active,
        dead_letters=dead,
    )


def _database_answers(history: History) -> bool:
    try:
        history.stats(since=1e11)  # a query that reads no rows
    except SQLAlchemyError:
        return False
    return True
