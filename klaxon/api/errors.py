"""Errors answered as ``ErrorBody`` JSON, their handlers, and the error responses to document."""

from __future__ import annotations

import redis
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from history.queries import CursorError
from klaxon.api import schemas


class ApiError(HTTPException):
    """An error answered as ``ErrorBody``; ``field`` names the input that was wrong."""

    def __init__(
        self, status: int, message: str, field: str | None = None, auth: bool = False
    ) -> None:
        headers = {"WWW-Authenticate": 'Bearer realm="klaxon"'} if auth else None
        super().__init__(status, message, headers=headers)
        self.field = field


# The error responses each route lists in the OpenAPI document.
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": schemas.ErrorBody, "description": text}
    for code, text in {
        401: "no credentials, or a token that is not configured",
        422: "a parameter is invalid; `fields` names it",
        503: "the history database or Redis is unavailable",
    }.items()
}
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": schemas.ErrorBody, "description": "no such item"}
}
BAD_CURSOR: dict[int | str, dict[str, object]] = {
    400: {"model": schemas.ErrorBody, "description": "a cursor this server did not hand out"}
}
FORBIDDEN: dict[int | str, dict[str, object]] = {
    403: {"model": schemas.ErrorBody, "description": "a read token on a write endpoint"}
}
CONFLICT: dict[int | str, dict[str, object]] = {
    409: {
        "model": schemas.ErrorBody,
        "description": "the alert's state does not allow it: resolved, already acknowledged "
        "or rejected, not acknowledged (unack), or a stateful alert (reject)",
    }
}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error ``app`` raises as ``ErrorBody`` JSON with the right status."""

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


def _json_error(status: int, message: str, fields: list[schemas.FieldError]) -> JSONResponse:
    body = schemas.ErrorBody(error=message, fields=fields)
    return JSONResponse(body.model_dump(), status_code=status)
