"""The small part of a Kafka message the bridge uses, as a Protocol.

``confluent_kafka.Message`` cannot be built from Python, so code depends on this shape and
unit tests can hand it plain objects.
"""

from __future__ import annotations

from typing import Protocol


class KafkaMessage(Protocol):
    def topic(self) -> str | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...

    def value(self) -> bytes | None: ...

    def key(self) -> bytes | None: ...

    def headers(
        self,
    ) -> dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None: ...

    def timestamp(self) -> tuple[int, int]: ...

    def error(self) -> object | None: ...


def where(message: KafkaMessage) -> str:
    """``topic[partition]@offset``, the way every log line names a message."""
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"
