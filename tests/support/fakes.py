"""Stand-ins for what core unit tests cannot build or must not wait on: messages, time, stop.

``confluent_kafka.Message`` cannot be made from Python, so the bridge depends on the
``ingest.messages.KafkaMessage`` protocol and these objects satisfy it. The clock and the
stop flag replace wall time, so core tests never sleep.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class FakeMessage:
    """A consumed Kafka message (the ``KafkaMessage`` protocol), without a broker."""

    topic_name: str
    partition_number: int
    offset_number: int
    payload: bytes | None
    message_key: bytes | None = None
    message_headers: list[tuple[str, str | bytes | None]] | None = None
    problem: object | None = None

    def topic(self) -> str | None:
        return self.topic_name

    def partition(self) -> int | None:
        return self.partition_number

    def offset(self) -> int | None:
        return self.offset_number

    def value(self) -> bytes | None:
        return self.payload

    def key(self) -> bytes | None:
        return self.message_key

    def headers(self) -> list[tuple[str, str | bytes | None]] | None:
        return self.message_headers

    def timestamp(self) -> tuple[int, int]:
        return (0, 0)

    def error(self) -> object | None:
        return self.problem


@dataclass
class Clock:
    """Seconds since the epoch that move only when a test moves them."""

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class InstantStop(threading.Event):
    """A stop flag whose waits return at once; records each backoff asked for.

    ``set_on_wait`` makes the first wait set the flag, as a SIGTERM arriving during the
    backoff would.
    """

    def __init__(self, set_on_wait: bool = False) -> None:
        super().__init__()
        self.set_on_wait = set_on_wait
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if self.set_on_wait:
            self.set()
        return self.is_set()
