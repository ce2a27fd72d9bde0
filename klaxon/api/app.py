"""The FastAPI application: routes under /api/v1, token auth, JSON errors, a body-size limit.

``create_app(services)`` builds it from what it reads (the history database, Redis, the
rules file, the tokens), so tests build one with their own; ``klaxon api`` serves it with
uvicorn. Each resource's routes live in ``klaxon.api.routes``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from klaxon.api.body_limit import BodyLimit
from klaxon.api.errors import install_error_handlers
from klaxon.api.params import PREFIX
from klaxon.api.routes import alerts, dead_letters, notifications, rules, status
from klaxon.api.services import Services, requeuer

__all__ = ["MAX_BODY_BYTES", "Services", "create_app", "requeuer"]

MAX_BODY_BYTES = 64 * 1024


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
    install_error_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    # The order the routers are included in is the order of the OpenAPI document's paths.
    for resource in (status, alerts, notifications, dead_letters, rules):
        app.include_router(resource.router)
    return app
