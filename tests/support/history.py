"""Move the test Redis's outbox into a history database with the real recorder, in-process."""

from __future__ import annotations

import threading

import redis

from contract.outbox import OUTBOX_STREAM
from history.database import make_engine
from history.recorder import Recorder


def record_outbox(client: redis.Redis, database_url: str) -> int:
    """Record every outbox entry now in the stream; return how many were recorded."""
    engine = make_engine(database_url)
    recorder = Recorder(client, engine, consumer="test-recorder", block_ms=10)
    recorder.ensure_group()
    stop = threading.Event()
    try:
        while client.xlen(OUTBOX_STREAM):
            recorder.step(stop)
    finally:
        engine.dispose()
    return recorder.stats.recorded
