"""The FastAPI application: routes under /api/v1, token auth, JSON errors, a body-size limit.

With a ``ConsoleConfig`` it also serves the web console at ``/`` (``klaxon.console``).

``create_app(services)`` builds it from what it reads (the history database, Redis, the
rules file, the tokens), so tests build one with their own; ``klaxon api`` serves it with
uvicorn. The routes live in ``klaxon.api.routes``, one module per resource.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from klaxon.api.body_limit import BodyLimit
from klaxon.api.errors import install_error_handlers
from klaxon.api.routes import ROUTERS
from klaxon.api.services import Services, requeuer
from klaxon.console.app import install_console
from klaxon.console.config import ConsoleConfig

__all__ = ["Services", "create_app", "requeuer"]

PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024


def create_app(services: Services, console: ConsoleConfig | None = None) -> FastAPI:
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

    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX)
    if console is not None:
        install_console(app, console)
    return app
