"""The seed's runtime statistics, shared through Redis so ``klaxon status`` sees every process.

Each long-running process publishes its own counters to the hash
``klaxon:stats:<role>:<name>`` every few seconds, with a ``heartbeat`` timestamp; the key
expires 120 s after the last publish, so a process that died drops out of the report.
Workers add to one shared hash, ``klaxon:stats:workers`` (sent, failed, dead), with
HINCRBY from their task signals: those totals survive restarts.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import TypedDict

import redis
from redis.typing import EncodableT, FieldT

from contract.redis_replies import text, text_fields

log = logging.getLogger(__name__)

PREFIX = "klaxon:stats"
WORKERS_KEY = f"{PREFIX}:workers"
TTL_SECONDS = 120

Number = int | float
Fields = dict[str, Number | str]


class Snapshot(TypedDict):
    """Every process's published statistics, and the workers' shared totals."""

    processes: dict[str, dict[str, Fields]]  # role -> process name -> its fields
    workers: Fields


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class StatsRecorder:
    """Publishes one process's statistics to ``klaxon:stats:<role>:<name>``."""

    def __init__(self, client: redis.Redis, role: str, name: str | None = None) -> None:
        self.client = client
        self.role = role
        self.name = name or process_name()
        self.key = f"{PREFIX}:{role}:{self.name}"

    def publish(self, mapping: Mapping[str, Number | str]) -> bool:
        """Write the mapping and a heartbeat; False (logged at debug) if Redis did not answer."""
        # Typed as redis-py wants it (its key type is invariant): the same pairs, in order.
        fields: dict[FieldT, EncodableT] = {key: value for key, value in mapping.items()}
        fields["heartbeat"] = time.time()
        try:
            pipe = self.client.pipeline()
            pipe.hset(self.key, mapping=fields)
            pipe.expire(self.key, TTL_SECONDS)
            pipe.execute()
        except redis.RedisError as exc:
            log.debug("statistics not published: %r", exc)
            return False
        return True

    def clear(self) -> None:
        """Drop this process from the report at once (on a clean exit)."""
        try:
            self.client.delete(self.key)
        except redis.RedisError as exc:
            log.debug("statistics not cleared: %r", exc)


def _value(raw: bytes | str) -> Number | str:
    text = raw.decode() if isinstance(raw, bytes) else raw
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _fields(raw: object) -> Fields:
    return {key: _value(value) for key, value in text_fields(raw).items()}


def read_all(client: redis.Redis) -> Snapshot:
    """``{"processes": {role: {name: fields}}, "workers": {sent, failed, dead}}``."""
    processes: dict[str, dict[str, Fields]] = {}
    for raw_key in client.scan_iter(match=f"{PREFIX}:*:*", count=500):
        key = text(raw_key)
        _, _, role, name = key.split(":", 3)
        fields = client.hgetall(key)
        if fields:  # expired between SCAN and HGETALL
            processes.setdefault(role, {})[name] = _fields(fields)
    workers = _fields(client.hgetall(WORKERS_KEY))
    return {"processes": processes, "workers": workers}
