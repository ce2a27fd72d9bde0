"""Sending encoded events to Kafka at a steady rate, counting what was delivered."""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import KafkaException, Producer

# librdkafka reports every failed connection attempt; ``check`` says it once, clearly.
_quiet = logging.getLogger("klaxon.produce.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class KafkaDown(Exception):
    """Kafka did not answer."""


class EventPublisher:
    """A producer that counts delivered and failed messages and keeps the first error."""

    def __init__(self, bootstrap: str, linger_ms: int = 5) -> None:
        self.bootstrap = bootstrap
        self.producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": linger_ms, "enable.idempotence": True},
            logger=_quiet,
        )
        self.delivered = 0
        self.failed = 0
        self.first_error: str | None = None

    def check(self, timeout: float = 5.0) -> None:
        """Raise KafkaDown unless the broker answers within ``timeout`` seconds."""
        try:
            self.producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise KafkaDown(
                f"cannot reach Kafka at {self.bootstrap} within {timeout:g}s: {exc.args[0]}"
            ) from exc

    def _on_delivery(self, error: object, _message: object) -> None:
        if error is None:
            self.delivered += 1
            return
        self.failed += 1
        if self.first_error is None:
            self.first_error = str(error)

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self.producer.poll(0.1)  # the local queue is full: let deliveries drain
        self.producer.poll(0)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for outstanding deliveries; the number still undelivered."""
        remaining: int = self.producer.flush(timeout)
        return remaining


class Pacer:
    """Spaces calls ``1 / rate`` seconds apart from the start; ``rate`` 0 never waits."""

    def __init__(self, rate: float, stop: threading.Event | None = None) -> None:
        self.rate = rate
        self.stop = stop or threading.Event()
        self.started = time.monotonic()

    def wait(self, index: int) -> bool:
        """Wait for the slot of the ``index``-th event; False if asked to stop meanwhile."""
        if self.rate > 0:
            delay = self.started + index / self.rate - time.monotonic()
            if delay > 0:
                return not self.stop.wait(delay)
        return not self.stop.is_set()

    def elapsed(self) -> float:
        return time.monotonic() - self.started
