"""``klaxon recorder``: move the outbox stream into the database, in batches, losing nothing.

The recorder reads ``klaxon:outbox`` through the consumer group ``klaxon-recorder``:

1. entries this consumer read before and never acknowledged (a crash) come first, then
   entries another, dead consumer left pending longer than ``claim_idle_ms``, then new ones;
2. a batch is folded and written in one transaction (``history.writer``: upserts);
3. only after the commit are its entries acknowledged (XACK) and deleted (XDEL).

A SIGKILL between 2 and 3 replays the batch on restart, and the upserts make the replay a
no-op: nothing lost, nothing duplicated. A database that is down (or refuses the batch for
a reason that may pass) makes it wait and retry the same batch with backoff, acknowledging
nothing; the outbox meanwhile grows up to ``contract.outbox.OUTBOX_MAXLEN`` entries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from contract.outbox import OUTBOX_STREAM, Record
from contract.redis_replies import text
from history import writer

log = logging.getLogger(__name__)

GROUP = "klaxon-recorder"
BACKOFF_MAX_SECONDS = 10.0

batch_size_metric = Gauge(
    "klaxon_recorder_batch_size", "Outbox entries in the last batch written to the database"
)
batches_metric = Counter(
    "klaxon_recorder_batches_total", "Database transactions committed (one per batch)"
)
commit_seconds_metric = Histogram(
    "klaxon_recorder_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
records_metric = Counter("klaxon_recorder_records_total", "Outbox entries recorded in the database")
skipped_metric = Counter(
    "klaxon_recorder_skipped_total", "Outbox entries that could not be decoded, logged and dropped"
)
lag_metric = Gauge("klaxon_recorder_lag", "Outbox entries not yet recorded (the stream's length)")
db_errors_metric = Counter(
    "klaxon_recorder_database_errors_total", "Batches the database refused (each retried)"
)
last_commit_metric = Gauge(
    "klaxon_recorder_last_commit_timestamp_seconds", "When the last batch was committed"
)
database_up_metric = Gauge(
    "klaxon_recorder_database_up", "1 when the last database write succeeded, else 0"
)

Entry = tuple[str, Record]


@dataclass
class RecorderStats:
    recorded: int = 0
    skipped: int = 0
    batches: int = 0
    database_errors: int = 0


class Recorder:
    def __init__(
        self,
        client: redis.Redis,
        engine: Engine,
        consumer: str,
        batch_size: int = 1000,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
        after_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.client = client
        self.engine = engine
        self.consumer = consumer
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        # A hook between the commit and the acknowledgement (tests crash the process here).
        self.after_commit = after_commit
        self.stats = RecorderStats()
        self.database_ok = True
        self._own_pending_done = False

    def ensure_group(self) -> None:
        """Create the consumer group (from the stream's start) unless it exists."""
        try:
            self.client.xgroup_create(OUTBOX_STREAM, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self, stop: threading.Event) -> None:
        self.ensure_group()
        while not stop.is_set():
            self.step(stop)

    def step(self, stop: threading.Event) -> int:
        """Read one batch and record it (retrying the database); return its size."""
        raw = self._read()
        lag_metric.set(self.client.xlen(OUTBOX_STREAM))
        if not raw:
            return 0
        entries, undecodable = _decode(raw)
        if not self._write_until_done(entries, stop):
            return 0  # stopping: nothing acknowledged, the next run replays the batch
        self.after_commit()
        ids = [entry_id for entry_id, _ in raw]
        pipe = self.client.pipeline()
        pipe.xack(OUTBOX_STREAM, GROUP, *ids)
        pipe.xdel(OUTBOX_STREAM, *ids)
        pipe.xlen(OUTBOX_STREAM)
        *_, left = pipe.execute()
        lag_metric.set(int(left))
        self.stats.recorded += len(entries)
        self.stats.skipped += undecodable
        self.stats.batches += 1
        records_metric.inc(len(entries))
        skipped_metric.inc(undecodable)
        batch_size_metric.set(len(raw))
        batches_metric.inc()
        last_commit_metric.set(time.time())
        return len(raw)

    def _read(self) -> list[tuple[str, dict[bytes, bytes]]]:
        if not self._own_pending_done:
            # What this consumer read before a crash and never acknowledged.
            mine = self._xreadgroup("0", block=None)
            if mine:
                return mine
            self._own_pending_done = True
        claimed = self.client.xautoclaim(
            OUTBOX_STREAM, GROUP, self.consumer, self.claim_idle_ms, "0-0", count=self.batch_size
        )
        taken = _messages(claimed[1] if isinstance(claimed, list | tuple) else [])
        if taken:
            return taken
        return self._xreadgroup(">", block=self.block_ms)

    def _xreadgroup(self, start: str, block: int | None) -> list[tuple[str, dict[bytes, bytes]]]:
        reply = self.client.xreadgroup(
            GROUP, self.consumer, {OUTBOX_STREAM: start}, count=self.batch_size, block=block
        )
        if not isinstance(reply, list) or not reply:
            return []
        return _messages(reply[0][1])

    def _write_until_done(self, entries: list[Entry], stop: threading.Event) -> bool:
        batch = writer.fold(entries)
        delay = 0.5
        while True:
            try:
                with commit_seconds_metric.time(), self.engine.begin() as connection:
                    writer.write(connection, batch)
            except (OperationalError, DBAPIError) as exc:
                self.stats.database_errors += 1
                db_errors_metric.inc()
                database_up_metric.set(0)
                self.database_ok = False
                log.warning(
                    "database refused a batch of %d outbox entries (%s); retrying in %.1fs",
                    len(entries),
                    str(exc.orig or exc).strip().splitlines()[0],
                    delay,
                )
                if stop.wait(delay):
                    return False
                delay = min(delay * 2, BACKOFF_MAX_SECONDS)
                continue
            database_up_metric.set(1)
            self.database_ok = True
            self.stats.skipped += batch.skipped
            return True


def _messages(reply: object) -> list[tuple[str, dict[bytes, bytes]]]:
    """(id, fields) pairs of an XREADGROUP/XAUTOCLAIM reply.

    A pending entry deleted meanwhile comes back with no fields: nothing to record.
    """
    if not isinstance(reply, list):
        return []
    return [(text(i), f) for i, f in reply if isinstance(f, dict) and f]


def _decode(raw: list[tuple[str, dict[bytes, bytes]]]) -> tuple[list[Entry], int]:
    entries: list[Entry] = []
    undecodable = 0
    for entry_id, fields in raw:
        try:
            entries.append((entry_id, Record.from_fields(fields)))
        except ValueError as exc:
            undecodable += 1
            log.error("outbox entry %s skipped: %s", entry_id, exc)
    return entries, undecodable
