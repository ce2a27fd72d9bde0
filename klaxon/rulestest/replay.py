"""``klaxon replay``: a backtest of a rules file against what is really in Kafka.

The partitions are assigned directly: the replay never joins a consumer group and never
commits, so the bridges' group and its offsets are untouched. Events go through the
bridge's pipeline in a ``Simulation`` on an in-process Redis, in event time (each message's
Kafka timestamp), so production's Redis is never read or written and nothing is enqueued.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_END, Consumer, KafkaException, Message, TopicPartition

from contract.durations import parse_duration
from contract.notification import TransitionKind
from contract.settings import Settings
from klaxon.rulestest.simulation import Simulation
from klaxon.rulestest.store import SimulatedClock, in_process_redis
from rules.config import KlaxonConfig

SAMPLES = 3  # rendered messages shown per rule
IDLE_SECONDS = 3.0  # with nothing more to read for this long, a partition is done
FIRED = (TransitionKind.TRIGGER, TransitionKind.NO_DATA)
RESOLVED = (TransitionKind.RESOLVE, TransitionKind.NO_DATA_RESOLVE)


class ReplayError(Exception):
    """A replay that cannot start: the message names the option, topic or partition."""


@dataclass(frozen=True)
class Bound:
    """Where a replay starts or stops: an offset (every partition) or a time (ms)."""

    offset: int | None = None
    at_ms: int | None = None


def parse_bound(text: str, option: str, now: float) -> Bound:
    """An offset (``1200``), an ISO time (``2026-01-01T08:00:00Z``) or an age (``2h``)."""
    text = text.strip()
    if text.isdigit():
        return Bound(offset=int(text))
    try:
        return Bound(at_ms=int((now - parse_duration(text)) * 1000))
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ReplayError(
            f"{option}: {text!r} is not an offset (1200), a time (2026-01-01T08:00:00Z) "
            "or an age (2h)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return Bound(at_ms=int(moment.timestamp() * 1000))


@dataclass
class RuleReport:
    rule_id: str
    matches: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    fired: int = 0
    resolved: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "rule": self.rule_id,
            "matches": self.matches,
            "notifications": dict(sorted(self.channels.items())),
            "samples": self.samples,
            "alerts_fired": self.fired,
            "alerts_resolved": self.resolved,
        }


@dataclass
class ReplayReport:
    topic: str
    events: int = 0
    rejected: int = 0
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition: [start, end)
    notes: list[str] = field(default_factory=list)
    rules: list[RuleReport] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "events": self.events,
            "rejected": self.rejected,
            "partitions": {str(p): {"from": a, "to": b} for p, (a, b) in self.ranges.items()},
            "notes": self.notes,
            "rules": [r.to_json() for r in self.rules],
        }


Progress = Callable[[int, float, dict[int, int]], None]


def replay_consumer(settings: Settings) -> Consumer:
    """A consumer that is only ever assigned partitions: no group is joined or committed."""
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            # librdkafka wants a group id; it is used for nothing: no subscribe, no commit.
            "group.id": f"klaxon-replay-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            **settings.extra_kafka,
        }
    )


@dataclass(frozen=True)
class Span:
    """One partition's replay: from ``first``; ``high`` is its high watermark at start."""

    first: int
    high: int


def plan(consumer: Consumer, topic: str, start: Bound, report: ReplayReport) -> dict[int, Span]:
    """Where each partition starts, with a note when that is later than asked."""
    try:
        metadata = consumer.list_topics(topic, timeout=10)
    except KafkaException as exc:
        raise ReplayError(f"cannot reach Kafka to read topic {topic!r}: {exc}") from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise ReplayError(f"--topic: no topic {topic!r} in Kafka")
    spans: dict[int, Span] = {}
    for partition in sorted(found.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        first = _position(consumer, topic, partition, start, low)
        if first is None or low == high:
            continue  # nothing at or after --from, or an empty partition
        if start.offset is not None and start.offset < low:
            report.notes.append(
                f"partition {partition}: offset {start.offset} is before the earliest retained "
                f"offset {low}: starting at {low}"
            )
        elif start.at_ms is not None and first == low and low > 0:
            report.notes.append(
                f"partition {partition}: --from is before the earliest retained offset {low}: "
                f"starting at {low}"
            )
        spans[partition] = Span(first, high)
    return spans


def _position(consumer: Consumer, topic: str, partition: int, bound: Bound, low: int) -> int | None:
    if bound.offset is not None:
        return max(bound.offset, low)
    assert bound.at_ms is not None
    (found,) = consumer.offsets_for_times([TopicPartition(topic, partition, bound.at_ms)], 10)
    if found.offset == OFFSET_END or found.offset < 0:
        return None
    return int(max(found.offset, low))


def replay(
    config: KlaxonConfig,
    settings: Settings,
    topic: str,
    start: Bound,
    stop: Bound,
    progress: Progress | None = None,
    idle_seconds: float = IDLE_SECONDS,
) -> ReplayReport:
    """Replay ``topic`` from ``start`` to before ``stop`` (an offset, or a time: default the
    time the replay began, so a busy topic's newer events end it)."""
    report = ReplayReport(topic)
    consumer = replay_consumer(settings)
    try:
        spans = plan(consumer, topic, start, report)
        simulation = Simulation(
            config, settings, in_process_redis(), SimulatedClock(0.0), offline=False
        )
        if spans:
            _run(consumer, simulation, topic, spans, stop, report, progress, idle_seconds)
        _summarize(simulation, config, topic, report)
    finally:
        consumer.close()
    return report


def _run(
    consumer: Consumer,
    simulation: Simulation,
    topic: str,
    spans: dict[int, Span],
    stop: Bound,
    report: ReplayReport,
    progress: Progress | None,
    idle_seconds: float,
) -> None:
    consumer.assign([TopicPartition(topic, p, span.first) for p, span in spans.items()])
    left = set(spans)

    def done(partition: int) -> None:
        # Stop fetching it: a busy topic's newer events would only be read and dropped.
        left.discard(partition)
        consumer.pause([TopicPartition(topic, partition)])

    position = {p: span.first for p, span in spans.items()}
    started = last_shown = idle_since = time.monotonic()
    clock, first_event = simulation.clock, True
    while left:
        messages = consumer.consume(500, timeout=0.5)
        now = time.monotonic()
        batch: list[Message] = []
        for message in messages:
            if message.error() is not None:
                raise ReplayError(f"--topic {topic}: Kafka error: {message.error()}")
            partition, offset = message.partition() or 0, message.offset() or 0
            if partition not in left:
                continue
            if _past(message, stop):
                done(partition)
                continue
            batch.append(message)
            position[partition] = offset + 1
        if batch:
            idle_since = now
        elif now - idle_since >= idle_seconds:
            # Nothing more to read: a partition past the high watermark it had at the start
            # is done. (The watermark alone cannot end it: some brokers, tansu among them,
            # report it per record batch, below the last offset.)
            for partition in [p for p in left if position[p] >= spans[p].high]:
                done(partition)
        for chunk in _by_time(batch):
            at = max(m.timestamp()[1] for m in chunk) / 1000.0
            if first_event:
                first_event = False
                clock.now = at  # simulated time starts at the first event
                simulation.reset_sweeps()
            simulation.advance(at)
            simulation.process(chunk)
        if progress is not None and (now - last_shown >= 2.0 or not left):
            last_shown = now
            progress(simulation.counts.events, now - started, dict(position))
    report.ranges = {
        p: (spans[p].first, position[p]) for p in spans if position[p] > spans[p].first
    }


def _past(message: Message, stop: Bound) -> bool:
    """Whether ``message`` is at or after where the replay stops."""
    if stop.offset is not None:
        return (message.offset() or 0) >= stop.offset
    return stop.at_ms is not None and message.timestamp()[1] >= stop.at_ms


def _by_time(batch: Sequence[Message], within_ms: int = 1000) -> list[list[Message]]:
    """Consecutive messages within ``within_ms`` of the chunk's first: one pipeline batch
    each, as one poll of the bridge would take them."""
    chunks: list[list[Message]] = []
    first = 0
    for message in batch:
        stamp = message.timestamp()[1]
        if chunks and 0 <= stamp - first < within_ms:
            chunks[-1].append(message)
        else:
            chunks.append([message])
            first = stamp
    return chunks


def _summarize(
    simulation: Simulation | None, config: KlaxonConfig, topic: str, report: ReplayReport
) -> None:
    by_rule = {r.id: RuleReport(r.id) for r in config.rules if r.source == topic and r.enabled}
    if simulation is None:
        report.rules = list(by_rule.values())
        return
    report.events = simulation.counts.events
    report.rejected = len(simulation.counts.rejected)
    for rule_id, count in simulation.counts.matched.items():
        by_rule.setdefault(rule_id, RuleReport(rule_id)).matches = count
    for sent in simulation.sent:
        n = sent.notification
        entry = by_rule.setdefault(n.rule_id, RuleReport(n.rule_id))
        entry.channels[n.channel] += 1
        text = n.message.strip()
        if len(entry.samples) < SAMPLES and text not in entry.samples:
            entry.samples.append(text)
    for rule_id, kind in simulation.counts.alert_events:
        entry = by_rule.setdefault(rule_id, RuleReport(rule_id))
        entry.fired += kind in FIRED
        entry.resolved += kind in RESOLVED
    report.rules = list(by_rule.values())
