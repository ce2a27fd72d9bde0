"""The recorder: outbox entries reach the database exactly once, through crashes and outages."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from contract import outbox
from contract.outbox import OUTBOX_STREAM, AttemptOutcome, NotificationStatus
from history.database import make_engine
from history.migrate import upgrade
from history.models import AttemptRow, NotificationRow
from history.recorder import GROUP, Recorder
from tests.support.databases import Unavailable, postgres_url, sqlite_url
from tests.support.processes import ManagedProcess
from tests.support.servers import free_port
from tests.support.wait import wait_until


@pytest.fixture(scope="module")
def postgres_or_reason() -> Iterator[str]:
    try:
        with postgres_url() as url:
            yield url
    except Unavailable as exc:
        yield f"unavailable: {exc}"


def _fill(client: redis.Redis, notifications: int) -> None:
    """Per notification: queued, attempt started, attempt sent (three entries)."""
    records: list[outbox.Record] = []
    for number in range(notifications):
        notification_id = f"n{number:05d}"
        records += [
            outbox.notification_queued(notification_id, "r", "webhook", ["x"], "match"),
            outbox.attempt(notification_id, f"a{number}", AttemptOutcome.STARTED),
            outbox.attempt(
                notification_id, f"a{number}", AttemptOutcome.SENT, status=NotificationStatus.SENT
            ),
        ]
        if len(records) >= 3000:
            outbox.append_batch(client, records)
            records = []
    outbox.append_batch(client, records)


def _counts(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            notifications = connection.scalar(select(func.count()).select_from(NotificationRow))
            sent = connection.scalar(
                select(func.count())
                .select_from(NotificationRow)
                .where(NotificationRow.status == "sent")
            )
            attempts = connection.scalar(select(func.count()).select_from(AttemptRow))
    finally:
        engine.dispose()
    return int(notifications or 0), int(sent or 0), int(attempts or 0)


def _recorder(redis_url: str, database_url: str, log_dir: Path, **env: str) -> ManagedProcess:
    argv = [sys.executable, "-m", "klaxon", "recorder", "--name", "r1", "--batch-size", "500"]
    environment = {
        "REDIS_URL": redis_url,
        "KLAXON_DATABASE_URL": database_url,
        "KLAXON_RECORDER_PORT": str(free_port()),
        **env,
    }
    return ManagedProcess("recorder", argv, environment, log_dir).start()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_recorder_killed_mid_batch_records_every_entry_exactly_once(
    backend: str,
    redis_client: redis.Redis,
    redis_url: str,
    tmp_path: Path,
    postgres_or_reason: str,
) -> None:
    """SIGKILL after a commit and before the ack, and again mid-stream: exact counts after."""
    if backend == "sqlite":
        url = sqlite_url(tmp_path)
    elif postgres_or_reason.startswith("unavailable: "):
        pytest.skip(f"PostgreSQL {postgres_or_reason}")
    else:
        url = postgres_or_reason
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(AttemptRow.__table__.delete())
            connection.execute(NotificationRow.__table__.delete())
        engine.dispose()
    _fill(redis_client, 4000)  # 12,000 entries
    # The worst moment: the first batch is committed, its entries not yet acknowledged.
    crashed = _recorder(redis_url, url, tmp_path, KLAXON_FAULT="recorder_after_commit")
    assert crashed.wait(60) == -signal.SIGKILL
    assert _counts(url)[0] > 0
    assert redis_client.xlen(OUTBOX_STREAM) == 12000  # nothing acknowledged or deleted
    # Then killed from outside while it works through the rest.
    second = _recorder(redis_url, url, tmp_path)
    wait_until(lambda: redis_client.xlen(OUTBOX_STREAM) < 12000, timeout=60, message="progress")
    second.kill()
    third = _recorder(redis_url, url, tmp_path)
    try:
        wait_until(
            lambda: redis_client.xlen(OUTBOX_STREAM) == 0, timeout=120, message="outbox drained"
        )
        assert _counts(url) == (4000, 4000, 4000)
        pending = redis_client.xpending(OUTBOX_STREAM, GROUP)
        assert pending["pending"] == 0
    finally:
        third.kill()


def test_a_database_that_is_not_ready_makes_the_recorder_wait_and_acknowledge_nothing(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Writes fail (no tables yet): entries stay pending; once migrated, all are recorded."""
    url = f"sqlite:///{tmp_path / 'later.db'}"
    engine = make_engine(url)
    _fill(redis_client, 10)
    recorder = Recorder(redis_client, engine, consumer="r1", batch_size=100, block_ms=100)
    stop = threading.Event()
    runner = threading.Thread(target=recorder.run, args=(stop,), daemon=True)
    runner.start()
    try:
        wait_until(lambda: recorder.stats.database_errors >= 2, message="retries")
        assert recorder.database_ok is False
        assert redis_client.xlen(OUTBOX_STREAM) == 30
        assert redis_client.xpending(OUTBOX_STREAM, GROUP)["pending"] == 30
        upgrade(url)
        wait_until(lambda: redis_client.xlen(OUTBOX_STREAM) == 0, message="outbox drained")
        assert _counts(url) == (10, 10, 10)
        assert recorder.database_ok is True
    finally:
        stop.set()
        runner.join(10)
        engine.dispose()


def test_an_undecodable_entry_is_skipped_and_the_rest_recorded(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    """A foreign entry without data is logged and acknowledged; it never blocks the stream."""
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    redis_client.xadd(OUTBOX_STREAM, {"kind": "attempt"})
    _fill(redis_client, 2)
    recorder = Recorder(redis_client, engine, consumer="r1", block_ms=100)
    recorder.ensure_group()
    assert recorder.step(threading.Event()) == 7
    assert recorder.stats.skipped == 1
    assert _counts(url) == (2, 2, 2)
    assert redis_client.xlen(OUTBOX_STREAM) == 0
    engine.dispose()
