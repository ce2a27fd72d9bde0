"""Outbox entries/s the recorder moves into SQLite and PostgreSQL.

    .venv/bin/python -m bench.recorder [--notifications 20000] [--batch-size 1000]

Each notification is three entries, as in production (queued, attempt started, attempt
sent), and one in ten also brings an alert event: ~3.1 entries per notification. The
outbox is filled first, then one in-process ``Recorder`` drains it; the figure is entries
recorded per second of draining (Redis reads, folding, the upsert transaction, XACK/XDEL).
PostgreSQL is a throwaway database on the server at 127.0.0.1:5432 (or
KLAXON_TEST_DATABASE_URL); SQLite a file in a temporary directory.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import redis

from bench._common import header, table
from contract import outbox
from contract.outbox import OUTBOX_STREAM, AttemptOutcome, NotificationStatus
from history.database import make_engine
from history.recorder import Recorder
from tests.support import servers
from tests.support.databases import Unavailable, postgres_url, sqlite_url


def fill(client: redis.Redis, notifications: int) -> int:
    records: list[outbox.Record] = []
    total = 0
    for number in range(notifications):
        nid = f"bench-{number:08d}"
        records += [
            outbox.notification_queued(nid, "temp_high", "webhook", ["ops@example.com"], "trigger"),
            outbox.attempt(nid, f"{nid}-1", AttemptOutcome.STARTED),
            outbox.attempt(nid, f"{nid}-1", AttemptOutcome.SENT, status=NotificationStatus.SENT),
        ]
        if number % 10 == 0:
            event = {
                "id": f"alert-{number}", "rule_id": "temp_high", "device_id": f"tank-{number}",
                "kind": "threshold", "metric": "temperature", "operator": ">",
                "threshold_value": 82.0, "current_value": 82.5, "triggered_at": time.time(),
                "is_resolved": False, "resolved_at": None, "resolution_value": None,
                "metadata": {},
            }  # fmt: skip
            records.append(outbox.alert_event(event, "trigger"))
        if len(records) >= 5000:
            outbox.append_batch(client, records)
            total += len(records)
            records = []
    outbox.append_batch(client, records)
    return total + len(records)


def drain(client: redis.Redis, url: str, batch_size: int) -> tuple[int, float]:
    engine = make_engine(url)
    recorder = Recorder(client, engine, consumer="bench", batch_size=batch_size, block_ms=10)
    recorder.ensure_group()
    stop = threading.Event()
    started = time.perf_counter()
    while client.xlen(OUTBOX_STREAM):
        recorder.step(stop)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return recorder.stats.recorded, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    header("recorder: outbox -> database")
    rows: list[tuple[object, ...]] = []
    with servers.redis_url() as redis_url, tempfile.TemporaryDirectory() as directory:
        client = redis.Redis.from_url(redis_url)
        backends: list[tuple[str, str]] = [("sqlite", sqlite_url(Path(directory)))]
        try:
            with postgres_url() as pg:
                backends.append(("postgresql", pg))
                rows += [run(client, name, url, args) for name, url in backends]
        except Unavailable as exc:
            print(f"PostgreSQL skipped: {exc}")
            rows += [run(client, name, url, args) for name, url in backends]
    print(table(["database", "entries", "seconds", "entries/s"], rows))


def run(client: redis.Redis, name: str, url: str, args: argparse.Namespace) -> tuple[object, ...]:
    client.flushdb()
    entries = fill(client, args.notifications)
    recorded, elapsed = drain(client, url, args.batch_size)
    assert recorded == entries, (recorded, entries)
    return (name, recorded, f"{elapsed:.2f}", f"{recorded / elapsed:,.0f}")


if __name__ == "__main__":
    main()
