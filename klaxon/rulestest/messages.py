"""A Kafka message built in-process (the ``ingest.messages.KafkaMessage`` protocol)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimulatedMessage:
    """An event of a test case, at its own offset, as the bridge would consume it."""

    topic_name: str
    partition_number: int
    offset_number: int
    payload: bytes
    timestamp_ms: int = 0

    def topic(self) -> str | None:
        return self.topic_name

    def partition(self) -> int | None:
        return self.partition_number

    def offset(self) -> int | None:
        return self.offset_number

    def value(self) -> bytes | None:
        return self.payload

    def key(self) -> bytes | None:
        return None

    def headers(self) -> list[tuple[str, str | bytes | None]] | None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (1, self.timestamp_ms)  # TIMESTAMP_CREATE_TIME

    def error(self) -> object | None:
        return None
