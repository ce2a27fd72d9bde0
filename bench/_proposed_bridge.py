"""``klaxon`` with the bridge changes this bench proposes, applied by patching at start.

    python -m bench._proposed_bridge bridge

1. Poll, then drain. ``Bridge.run`` calls ``consumer.consume(500, timeout=0.5)``, which
   librdkafka answers only when 500 messages are in hand or the 0.5 s are over: at low
   rates every event waits up to half a second before its batch starts. Here ``consume``
   waits for the first message only (``poll``) and then takes what else is already
   fetched (``consume(n - 1, timeout=0)``): a batch starts as soon as there is work and
   still grows to 500 under load.
2. ``PipelinedPublisher`` instead of ``CeleryPublisher``.

(``fetch.wait.max.ms`` is a setting, not code: ``bench.end_to_end`` passes
``KAFKA_CONSUMER_FETCH_WAIT_MAX_MS=10`` to this bridge.)
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery
from confluent_kafka import Consumer

import ingest.wiring
from ingest.fast_publisher import PipelinedPublisher
from klaxon.cli import main


class DrainingConsumer(Consumer):
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]:
        first = self.poll(timeout)
        if first is None:
            return []
        if num_messages <= 1:
            return [first]
        return [first, *super().consume(num_messages - 1, timeout=0)]


def pipelined(app: Celery) -> PipelinedPublisher:
    return PipelinedPublisher(app, redis.Redis.from_url(str(app.conf.broker_url)))


wiring: Any = ingest.wiring
wiring.Consumer = DrainingConsumer
wiring.CeleryPublisher = pipelined

if __name__ == "__main__":
    main()
