"""Copies of bad messages on ``<topic>.dlq``, raw, with headers saying where and why."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException, Producer

from ingest.messages import KafkaMessage, where

log = logging.getLogger(__name__)


class DeadLetterTopic:
    def __init__(self, producer: Producer, suffix: str = ".dlq") -> None:
        self.producer = producer
        self.suffix = suffix
        self._failed: list[str] = []

    def send(self, message: KafkaMessage, error: str) -> None:
        topic = message.topic() or "unknown"
        original = message.headers() or []
        headers: list[tuple[str, str | bytes | None]] = [
            *(original.items() if isinstance(original, dict) else original),
            ("klaxon.original.topic", topic.encode()),
            ("klaxon.original.partition", str(message.partition()).encode()),
            ("klaxon.original.offset", str(message.offset()).encode()),
            ("klaxon.error", error.encode()),
        ]
        origin = where(message)

        def delivered(err: object, _msg: object) -> None:
            if err is not None:
                self._failed.append(f"{origin}: {err}")

        self.producer.produce(
            topic + self.suffix,
            value=message.value(),
            key=message.key(),
            headers=headers,
            on_delivery=delivered,
        )

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every copy is stored; raise if any failed, so the batch is not committed."""
        remaining = self.producer.flush(timeout)
        failed, self._failed = self._failed, []
        if remaining or failed:
            raise KafkaException(
                f"dead-letter copies not stored ({remaining} pending): {'; '.join(failed)}"
            )
