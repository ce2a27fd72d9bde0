"""Schemathesis against /api/v1/openapi.json: no 500s, responses that match their schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contract import outbox
from contract.celery_app import make_app
from contract.outbox import AttemptOutcome, NotificationStatus
from contract.settings import Settings
from history.database import make_engine
from history.queries import History
from klaxon.api.app import Services, create_app, requeuer
from klaxon.api.tokens import parse_tokens
from tasks.deadletters import DeadLetter, DeadLetterStore
from tests.support.databases import sqlite_url
from tests.support.history import record_outbox

WRITE = "write-token-schemathesis-0123"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api_schema(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str
) -> Iterator[schemathesis.BaseSchema]:
    """The API over the test Redis and a SQLite history, with a little of everything in them."""
    DeadLetterStore(redis_client).add(
        DeadLetter(
            id="d1",
            rule_id="watch",
            channel="webhook",
            recipients_left=[],
            message="m",
            error="answered 400",
            reason="client_error",
            attempts=1,
            first_failure_at=1.0,
            last_failure_at=2.0,
            notification={"id": "d1"},
        )
    )
    outbox.append_batch(
        redis_client,
        [
            outbox.notification_queued("n1", "watch", "webhook", ["a@b.c"], "match"),
            outbox.attempt("n1", "t1", AttemptOutcome.STARTED),
            outbox.attempt("n1", "t1", AttemptOutcome.SENT, status=NotificationStatus.SENT),
        ],
    )
    database = sqlite_url(tmp_path)
    record_outbox(redis_client, database)
    engine = make_engine(database)
    services = Services(
        history=History(engine),
        redis=redis_client,
        tokens=parse_tokens(f"write:{WRITE}"),
        rules_path=ROOT / "config" / "alert_rules.yaml",
        default_topic="alpr.plates.detected",
        requeue=requeuer(make_app(Settings(redis_url=redis_url))),
    )
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(services))
    engine.dispose()


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
]


def test_every_endpoint_answers_within_its_schema(api_schema: schemathesis.BaseSchema) -> None:
    """Generated requests never get a 500, and every answer matches the documented schema."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def answers_within_schema(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {WRITE}"}, checks=CHECKS)

        answers_within_schema()
