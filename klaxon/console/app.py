"""Mount the console on the API's FastAPI app: pages, static files, error pages, headers."""

from __future__ import annotations

import inspect
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from klaxon.console.config import ConsoleConfig
from klaxon.console.guard import Refused, SignInNeeded, is_partial
from klaxon.console.pages import ROUTERS
from klaxon.console.render import page

STATIC = Path(__file__).parent / "static"

# No inline script or style, nothing from elsewhere, never in a frame (an ack button in
# someone else's frame is a click away from being pressed by mistake).
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def install_console(app: FastAPI, config: ConsoleConfig) -> None:
    app.state.console = config
    app.mount("/static", StaticFiles(directory=STATIC), name="console-static")
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)

    @app.exception_handler(SignInNeeded)
    async def sign_in(request: Request, exc: SignInNeeded) -> Response:
        if is_partial(request):  # the refresh script reloads the page, which redirects
            return JSONResponse({"error": "signed out"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)

    api_invalid = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # The API answers JSON (its handler, kept); a page answers a page naming the field.
        if api_invalid is not None and request.url.path.startswith("/api/"):
            answer = api_invalid(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        return page(request, "error.html", status=422, title="Not accepted", message=problems)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> HTMLResponse:
        return page(request, "error.html", status=exc.status, title=exc.title, message=exc.message)

    app.add_middleware(BaseHTTPMiddleware, dispatch=_security_headers)


async def _security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
    response = await call_next(request)
    if not request.url.path.startswith("/api/"):
        response.headers.update(_HEADERS)
    return response
