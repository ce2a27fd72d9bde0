"""Bridge.handle: store everything a batch produced, then commit (docs/design.md, invariant 1).

The pipeline, the Celery publisher, the alert store and Redis are real; Kafka is replaced by
a consumer and a producer that record what the bridge asked of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import redis
from confluent_kafka import TopicPartition

from alerts.events_topic import AlertEventTopic
from alerts.lifecycle import Lifecycle
from alerts.stateful_stage import StatefulStage
from alerts.store import AlertStore
from contract.celery_app import make_app
from contract.fast_publisher import PipelinedPublisher
from contract.notification import Notification
from contract.settings import Settings
from ingest.bridge import Bridge
from ingest.cooldown import Cooldowns
from ingest.decoding import Decoder
from ingest.dlq import DeadLetterTopic
from ingest.pipeline import Pipeline
from rules.engine import RuleEngine
from tests.support.fakes import Clock, FakeMessage, InstantStop
from tests.support.processes import ROOT
from tests.support.rules import compile_rules

TOPIC = "alpr.plates.detected"
QUEUE = "notify.webhook"
WATCHLIST = {
    "id": "watchlist",
    "source": TOPIC,
    "conditions": [{"field": "plate", "operator": "in_list", "value": ["ABC123"]}],
    "notify": ["webhook"],
    "message_template": "Plate {plate}",
    "rate_limit": {"cooldown_seconds": 300, "dedup_key": "plate"},
}


class RecordingConsumer:
    """Records each commit with how many tasks Redis held at that moment."""

    def __init__(self, client: redis.Redis, journal: list[str]) -> None:
        self.client = client
        self.journal = journal
        self.commits: list[list[tuple[str, int, int]]] = []

    def commit(self, offsets: Sequence[TopicPartition], asynchronous: bool = True) -> None:
        assert asynchronous is False
        self.commits.append([(o.topic, o.partition, o.offset) for o in offsets])
        self.journal.append(f"commit with {self.client.llen(QUEUE)} task(s) in {QUEUE}")


class FlakyPublisher:
    """The real publisher behind a Redis that is down for the first ``failures`` batches."""

    def __init__(self, real: PipelinedPublisher, journal: list[str], failures: int) -> None:
        self.real = real
        self.journal = journal
        self.failures = failures

    def publish(self, notifications: Sequence[Notification]) -> None:
        if self.failures:
            self.failures -= 1
            self.journal.append("publish failed")
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Refused.")
        self.real.publish(notifications)
        self.journal.append(f"published {len(notifications)}")


class RecordingProducer:
    """A Kafka producer that keeps what it was given; ``flush`` reports deliveries."""

    def __init__(self, journal: list[str], undelivered_flushes: int = 0) -> None:
        self.journal = journal
        self.undelivered_flushes = undelivered_flushes
        self.produced: list[dict[str, Any]] = []
        self._callbacks: list[Callable[[object, object], None]] = []

    def produce(self, topic: str, on_delivery: Callable[[object, object], None], **kw: Any) -> None:
        self.produced.append({"topic": topic, **kw})
        self._callbacks.append(on_delivery)
        self.journal.append(f"produce to {topic}")

    def flush(self, timeout: float = -1) -> int:
        callbacks, self._callbacks = self._callbacks, []
        failing = self.undelivered_flushes > 0
        self.undelivered_flushes -= 1
        for delivered in callbacks:
            delivered("Broker: Not enough in-sync replicas" if failing else None, None)
        self.journal.append("flush failed" if failing else "flush")
        return 0


class Harness:
    def __init__(self, client: redis.Redis, redis_url: str, failures: int = 0) -> None:
        self.client = client
        self.journal: list[str] = []
        engine = RuleEngine(compile_rules(WATCHLIST))
        clock = Clock()
        pipeline = Pipeline(
            engine,
            {TOPIC: Decoder(TOPIC, "json")},
            Cooldowns(client),
            StatefulStage(engine.stateful, Lifecycle(client), clock),
            clock,
        )
        self.consumer = RecordingConsumer(client, self.journal)
        real = PipelinedPublisher(make_app(Settings(redis_url=redis_url)), client)
        self.publisher = FlakyPublisher(real, self.journal, failures)
        self.dlq_producer = RecordingProducer(self.journal)
        self.bridge = Bridge(
            self.consumer,  # type: ignore[arg-type]
            pipeline,
            self.publisher,
            DeadLetterTopic(self.dlq_producer),  # type: ignore[arg-type]
            AlertStore(client),
            AlertEventTopic(RecordingProducer(self.journal), ROOT / "schemas"),  # type: ignore[arg-type]
        )

    def queued_ids(self) -> list[str]:
        return [json.loads(raw)["headers"]["id"] for raw in self.client.lrange(QUEUE, 0, -1)]


def plate(text: str, offset: int, partition: int = 0) -> FakeMessage:
    return FakeMessage(TOPIC, partition, offset, json.dumps({"plate": text}).encode())


@pytest.fixture
def harness(redis_client: redis.Redis, redis_url: str) -> Harness:
    return Harness(redis_client, redis_url)


def test_a_redis_error_retries_the_batch_and_commits_once_after_the_store(
    redis_client: redis.Redis, redis_url: str
) -> None:
    """Redis down for one attempt: nothing is committed until the tasks are stored, then once."""
    harness = Harness(redis_client, redis_url, failures=1)
    stop = InstantStop()
    batch = [plate("ABC123", 5), plate("QQQ000", 6), plate("ABC123", 2, partition=1)]

    assert harness.bridge.handle(batch, stop) is True

    assert harness.journal == ["publish failed", "published 1", f"commit with 1 task(s) in {QUEUE}"]
    assert harness.consumer.commits == [[(TOPIC, 0, 7), (TOPIC, 1, 3)]]
    assert stop.waits == [0.5]  # one backoff, then the retry
    # The retry passed the cooldown its own first attempt took (invariant 3).
    assert len(harness.queued_ids()) == 1


def test_stop_while_redis_is_down_returns_false_and_commits_nothing(
    redis_client: redis.Redis, redis_url: str
) -> None:
    """A stop during the backoff ends handle with False; the batch stays uncommitted."""
    harness = Harness(redis_client, redis_url, failures=99)
    stop = InstantStop(set_on_wait=True)

    assert harness.bridge.handle([plate("ABC123", 5)], stop) is False

    assert harness.journal == ["publish failed", "publish failed"]
    assert harness.consumer.commits == []
    assert harness.queued_ids() == []
    assert harness.bridge.stats.batches == 0


def test_a_rejected_message_is_copied_to_the_dlq_before_the_commit(harness: Harness) -> None:
    """Garbage goes to <topic>.dlq with where and why, flushed before the offsets move."""
    garbage = FakeMessage(TOPIC, 1, 9, b"\x00\x01", b"k", [("trace", b"t-1")])
    batch = [plate("ABC123", 8, partition=1), garbage]

    assert harness.bridge.handle(batch, InstantStop()) is True

    assert harness.journal == [
        "published 1",
        f"produce to {TOPIC}.dlq",
        "flush",
        f"commit with 1 task(s) in {QUEUE}",
    ]
    (copy,) = harness.dlq_producer.produced
    assert copy == {
        "topic": f"{TOPIC}.dlq",
        "value": b"\x00\x01",
        "key": b"k",
        "headers": [
            ("trace", b"t-1"),
            ("klaxon.original.topic", TOPIC.encode()),
            ("klaxon.original.partition", b"1"),
            ("klaxon.original.offset", b"9"),
            (
                "klaxon.error",
                b"invalid JSON: unexpected character, expected a JSON value:"
                b" line 1 column 1 (char 0)",
            ),
        ],
    }
    assert harness.consumer.commits == [[(TOPIC, 1, 10)]]
    assert harness.bridge.stats.rejected == 1


def test_a_dlq_copy_not_stored_holds_the_commit_until_it_is(harness: Harness) -> None:
    """A failed dead-letter delivery retries the whole batch; the commit follows the retry."""
    harness.dlq_producer.undelivered_flushes = 1
    stop = InstantStop()

    assert harness.bridge.handle([FakeMessage(TOPIC, 0, 3, b"nope")], stop) is True

    assert harness.journal == [
        "published 0",
        f"produce to {TOPIC}.dlq",
        "flush failed",
        "published 0",
        f"produce to {TOPIC}.dlq",
        "flush",
        f"commit with 0 task(s) in {QUEUE}",
    ]
    assert harness.consumer.commits == [[(TOPIC, 0, 4)]]
    assert stop.waits == [0.5]
