"""Bearer-token auth: ``require_role`` and the ``Read``/``Write`` dependencies routes take."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from klaxon.api.errors import ApiError
from klaxon.api.services import services_of
from klaxon.api.tokens import Role, role_of

_bearer = HTTPBearer(auto_error=False, description="A token from KLAXON_API_TOKENS")


def require_role(needed: Role) -> Callable[..., Role]:
    """A dependency that answers 401 without a configured token, 403 if its role is short."""

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
        role = role_of(services_of(request).tokens, credentials.credentials)
        if role is None:
            raise ApiError(401, "unknown token", "header.Authorization", True)
        if not role.allows(needed):
            raise ApiError(403, f"this endpoint needs a {needed} token", "header.Authorization")
        return role

    return check


Read = Annotated[Role, Depends(require_role(Role.READ))]
Write = Annotated[Role, Depends(require_role(Role.WRITE))]
