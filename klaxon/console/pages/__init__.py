"""The console's pages, one module per page or resource; ``ROUTERS`` is what the app mounts."""

from __future__ import annotations

from fastapi import APIRouter

from klaxon.console.pages import alert, firing, login

# /alerts/{id} (GET) before /alerts/{id}/{action} (POST): distinct methods, any order works.
ROUTERS: tuple[APIRouter, ...] = (login.router, firing.router, alert.router)
