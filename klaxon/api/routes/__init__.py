"""The /api/v1 routers, one per resource; ``create_app`` includes them in ``ROUTERS`` order."""

from __future__ import annotations

from fastapi import APIRouter

from klaxon.api.routes import alerts, dead_letters, notifications, rules, silences, status

# The order routes are included in is the order of paths in the OpenAPI document.
ROUTERS: tuple[APIRouter, ...] = (
    status.router,
    alerts.router,
    notifications.router,
    dead_letters.router,
    rules.router,
    silences.router,
)
