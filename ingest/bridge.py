"""The consume loop: a batch is decoded, evaluated, enqueued, and only then committed.

Invariant 1 (docs/design.md): an offset is committed only after every task of its event is
in Redis. If Redis or the Schema Registry is down the batch in hand is retried with
backoff, never skipped. Invariant 4: an undecodable message is copied to ``<topic>.dlq``
and passed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from alerts.events_topic import AlertEventTopic
from alerts.outcome import record_alerts
from alerts.store import AlertStore
from contract import metrics, outbox
from contract.errors import DEPENDENCY_ERRORS
from contract.faults import crash_point
from contract.notification import Notification
from contract.publisher import Publisher
from contract.stats import StatsRecorder
from ingest.dlq import DeadLetterTopic
from ingest.group_flusher import GroupFlusher
from ingest.lag import Throttle, update_lag
from ingest.messages import KafkaMessage
from ingest.pipeline import Outcome, Pipeline
from ingest.queue_depth import update_queue_depth

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
# A dependency that fails for one topic's messages (a Schema Registry answering 500 for
# one schema) holds the whole batch, every topic in it: retry often enough that the others
# wait at most a few seconds longer than the outage itself.
MAX_BACKOFF_SECONDS = 5.0


@dataclass
class BridgeStats:
    """The seed's statistics, for logs and ``klaxon status``."""

    started_at: float = field(default_factory=time.time)
    batches: int = 0
    events: int = 0
    rejected: int = 0
    matches: int = 0
    enqueued: int = 0


class Bridge:
    def __init__(
        self,
        consumer: Consumer,
        pipeline: Pipeline,
        publisher: Publisher,
        dead_letters: DeadLetterTopic,
        alert_store: AlertStore,
        alert_topic: AlertEventTopic,
        batch_size: int = 500,
        dry_run: bool = False,
        on_dry_run: Callable[[Notification], None] | None = None,
        redis_client: redis.Redis | None = None,
        channels: Sequence[str] = (),
        recorder: StatsRecorder | None = None,
        fault: str = "",
        flusher: GroupFlusher | None = None,
    ) -> None:
        self.consumer = consumer
        self.pipeline = pipeline
        self.publisher = publisher
        self.dead_letters = dead_letters
        self.alert_store = alert_store
        self.alert_topic = alert_topic
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.on_dry_run = on_dry_run or (lambda n: None)
        self.stats = BridgeStats()
        self.redis_client = redis_client
        self.channels = channels
        self.recorder = recorder
        # A named crash point for tests (Settings.fault, KLAXON_FAULT); empty in production.
        self.fault = fault
        # Lag, queue depth and statistics are sampled, not computed per batch.
        self._sampling = Throttle(5.0)
        self.assigned: set[tuple[str, int]] = set()
        # Sends grouped rules' windows when due, between batches (ingest/group_flusher.py),
        # at most every quarter second: two Redis reads each, not one per batch.
        self.flusher = flusher
        self._flushing = Throttle(0.25)

    # Rebalance callbacks: a batch is always finished and committed before consume() is
    # called again, so there is never uncommitted work in hand when partitions move.
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {(p.topic, p.partition) for p in partitions}
        metrics.partitions_assigned.set(len(self.assigned))
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned -= {(p.topic, p.partition) for p in partitions}
        metrics.partitions_assigned.set(len(self.assigned))
        log.info("revoked %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))

    def subscribe(self, topics: Sequence[str]) -> None:
        self.consumer.subscribe(
            list(topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def replace_pipeline(self, pipeline: Pipeline) -> None:
        """Run new rules from the next batch on; subscribe again if their topics changed."""
        old_topics = self.pipeline.engine.topics
        self.pipeline = pipeline
        if pipeline.engine.topics != old_topics:
            self.subscribe(sorted(pipeline.engine.topics))

    def run(
        self,
        stop: threading.Event,
        once: bool = False,
        between_batches: Callable[[], object] | None = None,
    ) -> None:
        """Consume until ``stop`` is set (finishing the batch in hand), or after one batch."""
        while not stop.is_set():
            if self._sampling.ready():
                self.sample()
            if between_batches is not None:
                between_batches()
            self.flush_groups()
            # Wait for the first message only, then take what else is already fetched:
            # consume(n, timeout) would hold a lone event until n arrive or the timeout.
            first = self.consumer.poll(0.5)
            if first is None:
                continue
            messages = [first, *self.consumer.consume(self.batch_size - 1, timeout=0)]
            batch = [m for m in messages if not self._is_error(m)]
            if batch:
                if not self.handle(batch, stop):
                    break  # stopped while a dependency was down: nothing committed, replay later
                if once:
                    break

    def flush_groups(self) -> None:
        """Send the group windows that are due; a dependency down only delays them."""
        grouping = self.pipeline.grouping
        if self.flusher is None or grouping is None or self.dry_run:
            return
        if not self._flushing.ready():
            return
        try:
            self.flusher.flush(grouping.rules)
        except DEPENDENCY_ERRORS as exc:
            log.error("group windows not flushed, retrying after the next poll: %s", exc)

    def _is_error(self, message: KafkaMessage) -> bool:
        error = message.error()
        if error is None:
            return False
        if isinstance(error, KafkaError) and error.code() == KafkaError._PARTITION_EOF:
            return True
        log.warning("consumer error on %s: %s", message.topic(), error)
        return True

    def handle(self, batch: Sequence[KafkaMessage], stop: threading.Event) -> bool:
        """Process one batch to the end and commit it; False if stopped before that."""
        delay = FIRST_BACKOFF_SECONDS
        while True:
            try:
                outcome = self.pipeline.process(batch, dry_run=self.dry_run)
                if not self.dry_run:
                    self._store(outcome)
                break
            except DEPENDENCY_ERRORS as exc:
                if stop.is_set():
                    log.error("stopping with a batch uncommitted (it will be replayed): %s", exc)
                    return False
                metrics.batch_retries.inc()
                log.error("batch of %d not enqueued, retrying in %.1fs: %s", len(batch), delay, exc)
                stop.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        self.stats.batches += 1
        self.stats.events += outcome.events
        self.stats.rejected += len(outcome.rejected)
        self.stats.matches += outcome.matches
        if self.dry_run:
            for notification in outcome.notifications:
                self.on_dry_run(notification)
            return True
        self.stats.enqueued += len(outcome.notifications)
        crash_point("crash_before_commit", self.fault)
        self._commit(batch)
        return True

    def _store(self, outcome: Outcome) -> None:
        """Everything the batch produced, stored before its offsets may be committed."""
        started = time.perf_counter()
        # Queued before published: in the outbox's one order a worker's attempts come after.
        outbox.append_batch(
            self.alert_store.client, [outbox.queued(n) for n in outcome.notifications]
        )
        self.publisher.publish(outcome.notifications)
        metrics.enqueue_latency.observe(time.perf_counter() - started)
        for notification in outcome.notifications:
            metrics.notifications_enqueued.labels(notification.channel).inc()
        for rule_id in outcome.triggered:
            metrics.alerts_triggered.labels(rule_id).inc()
        record_alerts(self.alert_store, self.alert_topic, outcome.alert_events)
        for item in outcome.rejected:
            self.dead_letters.send(item.message, item.reason)
        if outcome.rejected:
            self.dead_letters.flush()

    def _commit(self, batch: Sequence[KafkaMessage]) -> None:
        next_offsets: dict[tuple[str, int], int] = {}
        for message in batch:
            key = (message.topic() or "", message.partition() or 0)
            next_offsets[key] = max(next_offsets.get(key, 0), (message.offset() or 0) + 1)
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Partitions moved to another member while we worked (or the group timed us
            # out): the new owner replays from the last commit, and replays are harmless.
            log.warning(
                "commit of %d partition(s) failed, they will be replayed: %s", len(offsets), exc
            )

    def sample(self) -> None:
        """Refresh the gauges (lag, queue depth) and publish statistics for ``klaxon status``."""
        update_lag(self.consumer, self.assigned)
        if self.redis_client is not None:
            update_queue_depth(self.redis_client, self.channels)
        if self.recorder is not None:
            self.recorder.publish(dataclasses.asdict(self.stats))

    def close(self) -> None:
        """Leave the group (its partitions move at once) and withdraw our statistics."""
        self.consumer.close()
        if self.recorder is not None:
            self.recorder.clear()
