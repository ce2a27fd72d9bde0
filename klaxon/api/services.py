"""What the API reads (``Services``), how a route finds it, and the Celery-backed requeue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from celery import Celery
from fastapi import Request

from history.queries import History
from klaxon.api.tokens import Token
from klaxon.dead_cli import requeue
from tasks.deadletters import DeadLetterStore


@dataclass(frozen=True)
class Services:
    history: History
    redis: redis.Redis
    tokens: tuple[Token, ...]
    rules_path: Path
    default_topic: str
    requeue: Callable[[DeadLetterStore, str], bool]


def services_of(request: Request) -> Services:
    """The ``Services`` the app factory stored on the app this request reached."""
    services: Services = request.app.state.services
    return services


def requeuer(app: Celery) -> Callable[[DeadLetterStore, str], bool]:
    """Requeue one dead letter by id with ``app`` (as ``klaxon dead requeue``); False if none."""

    def requeue_one(store: DeadLetterStore, letter_id: str) -> bool:
        letter = store.get(letter_id)
        if letter is None:
            return False
        requeue(store, letter, app)
        return True

    return requeue_one
