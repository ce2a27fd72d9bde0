"""What the worker leaves out of a task's hot path: progress events, one HINCRBY a send."""

from __future__ import annotations

import redis

from contract.celery_app import make_app
from contract.settings import Settings
from contract.stats import WORKERS_KEY
from tasks.worker_totals import PendingTotals
from tests.support.wait import wait_until


def test_the_event_dispatcher_drops_progress_events_and_keeps_outcomes(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """task-received/task-started are not published; task-succeeded and task-failed are."""
    app = make_app(Settings(redis_url=redis_url))
    subscriber = redis_client.pubsub()  # type: ignore[no-untyped-call]  # redis-py: untyped
    subscriber.psubscribe("*celeryev*")
    wait_until(lambda: subscriber.get_message(timeout=0.1) is not None, timeout=10)
    with (
        app.connection_for_write() as connection,
        app.events.Dispatcher(connection, hostname="test@host") as dispatcher,
    ):
        for kind in ("task-received", "task-started", "task-succeeded", "task-failed"):
            dispatcher.send(kind, uuid="an-id")
    channels: list[str] = []  # kombu publishes each event to /<db>.celeryev/<type>

    def both_outcomes() -> bool:
        message = subscriber.get_message(timeout=0.1)
        if message and message["type"] == "pmessage":
            channels.append(message["channel"].decode())
        return len(channels) >= 2

    wait_until(both_outcomes, timeout=10)
    assert [c.rsplit("/", 1)[-1] for c in channels] == ["task.succeeded", "task.failed"]
    subscriber.close()
    app.close()


def test_sends_are_written_together_and_a_failure_writes_at_once(
    redis_client: redis.Redis,
) -> None:
    """Pending sends reach Redis after the flush delay; a failure writes them with it."""
    totals = PendingTotals(lambda: redis_client, flush_seconds=3600)
    totals.add("sent")
    totals.add("sent")
    assert redis_client.hgetall(WORKERS_KEY) == {}

    totals.add("failed", now=True)

    assert redis_client.hgetall(WORKERS_KEY) == {b"sent": b"2", b"failed": b"1"}


def test_pending_sends_are_flushed_by_the_timer(redis_client: redis.Redis) -> None:
    """Without a failure, sends are written by the timer thread shortly after."""
    totals = PendingTotals(lambda: redis_client, flush_seconds=0.05)
    totals.add("sent")

    wait_until(lambda: redis_client.hget(WORKERS_KEY, "sent") == b"1", timeout=10)
