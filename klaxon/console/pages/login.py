"""Signing in (a console user's password, or an API token) and out."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from klaxon.api.services import services_of
from klaxon.api.tokens import role_of
from klaxon.console.guard import AnyVisitor, console_of, local_path
from klaxon.console.render import page, redirect
from klaxon.console.session import token_digest
from klaxon.console.users import authenticate

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, next_path: Annotated[str, Query(alias="next")] = "/"
) -> HTMLResponse:
    return page(request, "login.html", next=local_path(next_path), username="", error="")


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login(
    request: Request,
    session: AnyVisitor,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    token: Annotated[str, Form(max_length=1000)] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> HTMLResponse | RedirectResponse:
    digest = ""
    if token:
        role = role_of(services_of(request).tokens, token)
        name = f"token:{role}" if role else None
        digest = token_digest(token)
    else:
        user = authenticate(console_of(request).users, username, password)
        role, name = (user.role, user.name) if user else (None, None)
    if role is None or name is None:
        return page(
            request,
            "login.html",
            status=401,
            next=local_path(next_path),
            username=username,
            error="Unknown user, wrong password, or an API token that is not configured.",
        )
    request.state.session = session.signed_in_as(name, role, time.time(), digest)
    return redirect(request, local_path(next_path), f"Signed in as {name} ({role}).")


@router.post("/logout", response_class=RedirectResponse)
def logout(request: Request, _: AnyVisitor) -> RedirectResponse:
    """Sign out; the form's CSRF token is checked, so a forged sign-out is refused too."""
    response = RedirectResponse("/login", status_code=303)
    console_of(request).codec.clear(response)
    return response
