"""The console's pages, one module per page or resource; ``ROUTERS`` is what the app mounts."""

from __future__ import annotations

from fastapi import APIRouter

from klaxon.console.pages import (
    alert,
    dead_letters,
    deliveries,
    firing,
    history,
    links,
    login,
    rules,
    silences,
)

# /alerts/{id} (GET) before /alerts/{id}/{action} (POST): distinct methods, any order works.
# /dead-letters/requeue (POST) and /dead-letters/{id}/requeue (POST) differ in length.
ROUTERS: tuple[APIRouter, ...] = (
    login.router,
    firing.router,
    alert.router,
    silences.router,
    dead_letters.router,
    deliveries.router,
    history.router,
    rules.router,
    links.router,
)
