"""The FastAPI application: routes under /api/v1, token auth, JSON errors, a body-size limit.

``create_app(services)`` builds it from what it reads (the history database, Redis, the
rules file, the tokens), so tests build one with their own; ``klaxon api`` serves it with
uvicorn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import redis
from celery import Celery
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

from alerts.acks import AckBook, AckError
from alerts.store import AlertEvent, AlertStore
from contract import __version__
from contract.outbox import OUTBOX_STREAM, NotificationStatus
from history.models import AlertEventRow
from history.queries import AlertFilter, CursorError, History, NotificationFilter
from history.views import alert_view, attempt_view, notification_view, timeline_view
from klaxon.api import schemas
from klaxon.api.body_limit import BodyLimit
from klaxon.api.rules_report import rules_report
from klaxon.api.tokens import Role, Token, role_of
from klaxon.dead_cli import requeue
from tasks.deadletters import DeadLetterStore

PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024
# A path or query value longer than this is refused before it reaches the database.
MAX_ID = 200


@dataclass(frozen=True)
class Services:
    history: History
    redis: redis.Redis
    tokens: tuple[Token, ...]
    rules_path: Path
    default_topic: str
    requeue: Callable[[DeadLetterStore, str], bool]


class ApiError(HTTPException):
    """An error answered as ``ErrorBody``; ``field`` names the input that was wrong."""

    def __init__(
        self, status: int, message: str, field: str | None = None, auth: bool = False
    ) -> None:
        headers = {"WWW-Authenticate": 'Bearer realm="klaxon"'} if auth else None
        super().__init__(status, message, headers=headers)
        self.field = field


_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": schemas.ErrorBody, "description": text}
    for code, text in {
        401: "no credentials, or a token that is not configured",
        422: "a parameter is invalid; `fields` names it",
        503: "the history database or Redis is unavailable",
    }.items()
}
_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": schemas.ErrorBody, "description": "no such item"}
}
_BAD_CURSOR: dict[int | str, dict[str, object]] = {
    400: {"model": schemas.ErrorBody, "description": "a cursor this server did not hand out"}
}
_FORBIDDEN: dict[int | str, dict[str, object]] = {
    403: {"model": schemas.ErrorBody, "description": "a read token on a write endpoint"}
}
_CONFLICT: dict[int | str, dict[str, object]] = {
    409: {
        "model": schemas.ErrorBody,
        "description": "the alert's state does not allow it: resolved, already acknowledged "
        "or rejected, not acknowledged (unack), or a stateful alert (reject)",
    }
}
# An AckError's verdict -> the status it is answered with (anything else: 409).
_ACK_STATUS = {"unknown": 404, "ambiguous": 404}

_bearer = HTTPBearer(auto_error=False, description="A token from KLAXON_API_TOKENS")


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _require(needed: Role) -> Callable[..., Role]:
    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Role:
        if credentials is None:
            raise ApiError(
                401,
                "credentials required: Authorization: Bearer <token>",
                "header.Authorization",
                True,
            )
        role = role_of(_services(request).tokens, credentials.credentials)
        if role is None:
            raise ApiError(401, "unknown token", "header.Authorization", True)
        if not role.allows(needed):
            raise ApiError(403, f"this endpoint needs a {needed} token", "header.Authorization")
        return role

    return check


Read = Annotated[Role, Depends(_require(Role.READ))]
Write = Annotated[Role, Depends(_require(Role.WRITE))]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=MAX_ID, description="next_cursor of the last page")]
Since = Annotated[float | None, Query(ge=0, le=1e11, description="Unix seconds")]
Ident = Annotated[str | None, Query(max_length=MAX_ID)]
AlertPath = Annotated[str, PathParam(max_length=MAX_ID)]


def _json_error(status: int, message: str, fields: list[schemas.FieldError]) -> JSONResponse:
    body = schemas.ErrorBody(error=message, fields=fields)
    return JSONResponse(body.model_dump(), status_code=status)


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Klaxon API",
        version="1",
        description="Alert and delivery history, dead letters, rules and status (docs/api.md).",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.services = services
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        field = getattr(exc, "field", None)
        fields = [schemas.FieldError(field=field, message=str(exc.detail))] if field else []
        response = _json_error(exc.status_code, str(exc.detail), fields)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            schemas.FieldError(field=".".join(str(p) for p in e["loc"]), message=e["msg"])
            for e in exc.errors()
        ]
        return _json_error(422, "invalid request", fields)

    @app.exception_handler(SQLAlchemyError)
    async def database_down(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        return _json_error(503, f"history database unavailable: {type(exc).__name__}", [])

    @app.exception_handler(redis.RedisError)
    async def redis_down(_request: Request, exc: redis.RedisError) -> JSONResponse:
        return _json_error(503, f"Redis unavailable: {type(exc).__name__}", [])

    @app.exception_handler(CursorError)
    async def bad_cursor(_request: Request, exc: CursorError) -> JSONResponse:
        return _json_error(
            400, str(exc), [schemas.FieldError(field="query.cursor", message=str(exc))]
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    @app.get(f"{PREFIX}/status", response_model=schemas.Status, responses=_ERRORS)
    def status(request: Request, _: Read) -> schemas.Status:
        """Whether Redis and the database answer, and the sizes that matter."""
        s = _services(request)
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

    @app.get(f"{PREFIX}/alerts/active", response_model=list[schemas.Alert], responses=_ERRORS)
    def active_alerts(request: Request, _: Read) -> list[schemas.Alert]:
        """Alerts firing now (Redis's live state), oldest first."""
        return [_live_alert(e) for e in AlertStore(_services(request).redis).active()]

    @app.get(
        f"{PREFIX}/alerts", response_model=schemas.AlertPage, responses={**_ERRORS, **_BAD_CURSOR}
    )
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
        page = _services(request).history.alerts(where, limit=limit, cursor=cursor)
        return schemas.AlertPage(
            items=[schemas.Alert.model_validate(_alert_fields(r)) for r in page.items],
            next_cursor=page.next_cursor,
        )

    @app.get(
        f"{PREFIX}/alerts/{{alert_id}}",
        response_model=schemas.AlertDetail,
        responses={**_ERRORS, **_NOT_FOUND},
    )
    def alert(
        request: Request, _: Read, alert_id: Annotated[str, PathParam(max_length=MAX_ID)]
    ) -> schemas.AlertDetail:
        """One alert and its timeline: trigger, acks, escalations, resolve."""
        history = _services(request).history
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

    ack_responses = {**_ERRORS, **_NOT_FOUND, **_FORBIDDEN, **_CONFLICT}

    @app.post(
        f"{PREFIX}/alerts/{{alert_id}}/ack",
        response_model=schemas.AckResult,
        responses=ack_responses,
    )
    def ack(
        request: Request, _: Write, alert_id: AlertPath, body: schemas.AckBody
    ) -> schemas.AckResult:
        """Acknowledge an open alert or hit: its reminders and escalation steps stop."""
        return _act(_services(request).redis, "ack", alert_id, body.by, body.comment)

    @app.post(
        f"{PREFIX}/alerts/{{alert_id}}/unack",
        response_model=schemas.AckResult,
        responses=ack_responses,
    )
    def unack(
        request: Request, _: Write, alert_id: AlertPath, body: schemas.AckBody
    ) -> schemas.AckResult:
        """Take an acknowledgement back: the alert is open again and its reminders resume."""
        return _act(_services(request).redis, "unack", alert_id, body.by, body.comment)

    @app.post(
        f"{PREFIX}/alerts/{{alert_id}}/reject",
        response_model=schemas.AckResult,
        responses=ack_responses,
    )
    def reject(
        request: Request, _: Write, alert_id: AlertPath, body: schemas.RejectBody
    ) -> schemas.AckResult:
        """Reject a hit (a misread plate, a wrong hotlist entry): it closes, with the reason."""
        return _act(_services(request).redis, "reject", alert_id, body.by, body.reason)

    @app.get(
        f"{PREFIX}/notifications",
        response_model=schemas.NotificationPage,
        responses={**_ERRORS, **_BAD_CURSOR},
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
        page = _services(request).history.notifications(where, limit=limit, cursor=cursor)
        return schemas.NotificationPage(
            items=[schemas.Notification.model_validate(notification_view(r)) for r in page.items],
            next_cursor=page.next_cursor,
        )

    @app.get(
        f"{PREFIX}/notifications/{{notification_id}}",
        response_model=schemas.NotificationDetail,
        responses={**_ERRORS, **_NOT_FOUND},
    )
    def notification(
        request: Request,
        _: Read,
        notification_id: Annotated[str, PathParam(max_length=MAX_ID)],
    ) -> schemas.NotificationDetail:
        """One notification with every delivery attempt, in order."""
        history = _services(request).history
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

    @app.get(f"{PREFIX}/dead-letters", response_model=schemas.DeadLetterList, responses=_ERRORS)
    def dead_letters(
        request: Request, _: Read, channel: Ident = None, rule_id: Ident = None
    ) -> schemas.DeadLetterList:
        """Notifications that failed permanently or ran out of retries, oldest first."""
        store = DeadLetterStore(_services(request).redis)
        return schemas.DeadLetterList(
            items=[
                schemas.DeadLetter.model_validate(letter)
                for letter in store
                if (channel is None or letter.channel == channel)
                and (rule_id is None or letter.rule_id == rule_id)
            ]
        )

    @app.get(
        f"{PREFIX}/dead-letters/{{letter_id}}",
        response_model=schemas.DeadLetter,
        responses={**_ERRORS, **_NOT_FOUND},
    )
    def dead_letter(
        request: Request, _: Read, letter_id: Annotated[str, PathParam(max_length=MAX_ID)]
    ) -> schemas.DeadLetter:
        """One dead letter in full."""
        letter = DeadLetterStore(_services(request).redis).get(letter_id)
        if letter is None:
            raise ApiError(404, f"no dead letter {letter_id!r}", "path.letter_id")
        return schemas.DeadLetter.model_validate(letter)

    @app.post(
        f"{PREFIX}/dead-letters/{{letter_id}}/requeue",
        response_model=schemas.Requeued,
        responses={**_ERRORS, **_NOT_FOUND, **_FORBIDDEN},
    )
    def requeue(
        request: Request, _: Write, letter_id: Annotated[str, PathParam(max_length=MAX_ID)]
    ) -> schemas.Requeued:
        """Send a dead letter again under its own id (the sent-ledger still holds)."""
        s = _services(request)
        if not s.requeue(DeadLetterStore(s.redis), letter_id):
            raise ApiError(404, f"no dead letter {letter_id!r}", "path.letter_id")
        return schemas.Requeued(requeued=letter_id)

    @app.delete(
        f"{PREFIX}/dead-letters/{{letter_id}}",
        response_model=schemas.Purged,
        responses={**_ERRORS, **_NOT_FOUND, **_FORBIDDEN},
    )
    def purge(
        request: Request, _: Write, letter_id: Annotated[str, PathParam(max_length=MAX_ID)]
    ) -> schemas.Purged:
        """Delete one dead letter."""
        if not DeadLetterStore(_services(request).redis).remove(letter_id):
            raise ApiError(404, f"no dead letter {letter_id!r}", "path.letter_id")
        return schemas.Purged(purged=letter_id)

    @app.get(f"{PREFIX}/rules", response_model=schemas.Rules, responses=_ERRORS)
    def rules(request: Request, _: Read) -> schemas.Rules:
        """The rules file as it is now, and its validation report (no channel settings)."""
        s = _services(request)
        return rules_report(s.rules_path, s.default_topic)

    return app


def requeuer(app: Celery) -> Callable[[DeadLetterStore, str], bool]:
    """Requeue one dead letter by id with ``app`` (as ``klaxon dead requeue``); False if none."""

    def requeue_one(store: DeadLetterStore, letter_id: str) -> bool:
        letter = store.get(letter_id)
        if letter is None:
            return False
        requeue(store, letter, app)
        return True

    return requeue_one


def _act(client: redis.Redis, action: str, alert_id: str, by: str, note: str) -> schemas.AckResult:
    """One ack action by exact id (as alerts.acks does it for the CLI); errors as JSON."""
    book = AckBook(client)
    do = {"ack": book.ack, "unack": book.unack, "reject": book.reject}[action]
    at = time.time()
    try:
        state = do(alert_id, by, note, at)
    except AckError as exc:
        raise ApiError(_ACK_STATUS.get(exc.verdict, 409), str(exc), "path.alert_id") from None
    return schemas.AckResult(alert_id=alert_id, state=state.value, by=by, at=at)


def _database_answers(history: History) -> bool:
    try:
        history.stats(since=1e11)  # a query that reads no rows
    except SQLAlchemyError:
        return False
    return True


def _alert_fields(row: AlertEventRow) -> dict[str, object]:
    view = alert_view(row)
    view.pop("metadata")
    return dict(view)


def _live_alert(event: AlertEvent) -> schemas.Alert:
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
    )
