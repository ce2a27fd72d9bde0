"""What the API reads from (the history, Redis, tokens, the rules file), held on the app."""

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
    """What every route reads; ``create_app`` keeps it on ``app.state.services``."""

    history: History
    redis: redis.Redis
    tokens: tuple[Token, ...]
    rules_path: Path
    default_topic: str
    requeue: Callable[[DeadLetterStore, str], bool]


def services_of(request: Request) -> Services:
    """The ``Services`` that ``create_app`` put on the app serving ``request``."""
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
