"""Build a bridge from settings and a loaded config: clients, decoders and the pipeline."""

from __future__ import annotations

import gc
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import redis
from confluent_kafka import Consumer, KafkaException, Producer

from alerts.events_topic import AlertEventTopic
from alerts.grouping import GroupStore, StormMeter
from alerts.lifecycle import Lifecycle
from alerts.muting.stage import MuteStage
from alerts.stateful_stage import StatefulStage
from alerts.store import AlertStore
from contract.ack_links import LinkSetupError, LinkSigner, signer_from
from contract.celery_app import make_app
from contract.channels import CHANNELS
from contract.errors import BridgeError
from contract.fast_publisher import PipelinedPublisher, UnsupportedConfiguration
from contract.publisher import CeleryPublisher, Publisher
from contract.redaction import SECRETS
from contract.reloads import ReloadResult, record_reload
from contract.schema_registry import SchemaRegistry
from contract.settings import Settings
from contract.stats import StatsRecorder
from ingest.bridge import Bridge
from ingest.cooldown import Cooldowns
from ingest.decoding import Decoder, load_schema
from ingest.dlq import DeadLetterTopic
from ingest.group_flusher import GroupFlusher
from ingest.grouping_stage import GroupingStage
from ingest.limits import EventLimits
from ingest.pipeline import Pipeline
from ingest.reload import Reloader
from rules.config import KlaxonConfig
from rules.engine import RuleEngine
from rules.model import Rule

log = logging.getLogger(__name__)

# Local schemas for schemaless Avro on the topics Klaxon knows; `sources:` overrides.
DEFAULT_SCHEMAS = {
    "alpr.plates.detected": "plate_event.avsc",
    "devices.readings": "device_reading.avsc",
}


class KafkaUnreachable(BridgeError):
    """Kafka did not answer at start."""


def consumer_config(settings: Settings) -> dict[str, object]:
    session = settings.kafka_session_timeout_ms
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": settings.kafka_group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": session,
        "heartbeat.interval.ms": max(100, session // 3),
        # Eager assignment: cooperative-sticky hands partitions over far more slowly on
        # small brokers, and the loop never holds uncommitted work across a rebalance.
        "partition.assignment.strategy": "range",
        "enable.partition.eof": False,
        # A topic created after the bridge started is picked up within this time.
        "topic.metadata.refresh.interval.ms": 10000,
        **settings.extra_kafka,
    }


def producer_config(settings: Settings) -> dict[str, object]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "enable.idempotence": True,
        "linger.ms": 5,
    }


def local_schema_path(topic: str, settings: Settings, configured: Path | None) -> Path | None:
    if configured is not None:
        return configured
    name = DEFAULT_SCHEMAS.get(topic)
    return settings.schemas_dir / name if name else None


def build_decoders(
    config: KlaxonConfig, settings: Settings, topics: set[str]
) -> dict[str, Decoder]:
    registry = (
        SchemaRegistry(settings.schema_registry_url) if settings.schema_registry_url else None
    )
    decoders: dict[str, Decoder] = {}
    for topic in sorted(topics):
        source = config.source(topic)
        path = local_schema_path(topic, settings, source.schema)
        schema = load_schema(path) if path is not None and path.exists() else None
        limits = EventLimits(max_depth=source.max_depth, max_bytes=source.max_bytes)
        try:
            decoders[topic] = Decoder(topic, source.format, schema, registry, limits)
        except ValueError as exc:
            raise BridgeError(str(exc)) from exc
    return decoders


def wait_for_kafka(consumer: Consumer, settings: Settings, timeout: float = 10.0) -> None:
    try:
        consumer.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaUnreachable(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers} within {timeout:g}s "
            f"(KAFKA_BOOTSTRAP_SERVERS): {exc.args[0] if exc.args else exc}"
        ) from exc


def build_pipeline(
    config: KlaxonConfig,
    settings: Settings,
    client: redis.Redis,
    clock: Callable[[], float] = time.time,
) -> Pipeline:
    """The bridge's pipeline; ``klaxon rules test`` and ``replay`` build this very one with
    an in-process Redis and a simulated ``clock``."""
    engine = RuleEngine(config.rules)
    decoders = build_decoders(config, settings, set(engine.topics))
    links = link_signer(settings, clock)
    stateful = StatefulStage(engine.stateful, Lifecycle(client), clock, links=links)
    muting = MuteStage(client, {rule.id: rule for rule in config.rules}, config.inhibit)
    return Pipeline(
        engine,
        decoders,
        Cooldowns(client),
        stateful,
        clock,
        recipients=channel_recipients(config),
        grouping=grouping_stage(config, client, clock),
        muting=muting,
        links=links,
    )


def link_signer(settings: Settings, clock: Callable[[], float] = time.time) -> LinkSigner | None:
    """The signer of ack and silence links (None: KLAXON_PUBLIC_URL unset); BridgeError when
    KLAXON_PUBLIC_URL is set without KLAXON_CONSOLE_SECRET."""
    try:
        return signer_from(settings, clock)
    except LinkSetupError as exc:
        raise BridgeError(str(exc)) from exc


def grouping_stage(
    config: KlaxonConfig, client: redis.Redis, clock: Callable[[], float] = time.time
) -> GroupingStage | None:
    """The grouping stage when a rule groups or watches for storms, else None."""
    rules = {
        rule.id: rule
        for rule in config.rules
        if isinstance(rule, Rule) and (rule.group is not None or rule.storm is not None)
    }
    if not rules:
        return None
    return GroupingStage(GroupStore(client), StormMeter(client), rules, clock)


def channel_recipients(config: KlaxonConfig) -> dict[str, tuple[str, ...]]:
    """The configured recipients of every enabled channel that has them (email, SMS)."""
    result: dict[str, tuple[str, ...]] = {}
    for name, channel in config.channels.items():
        spec = CHANNELS.get(name)
        if channel.enabled and spec is not None and spec.recipients is not None:
            result[name] = tuple(spec.recipients(channel.settings))
    return result


def settle_heap() -> None:
    """Keep the garbage collector off what lives as long as the process.

    The compiled rules (a watchlist index can hold 100,000 entries), schemas and libraries
    would otherwise be rescanned by every full collection while batches of decoded events
    churn the young generations: measured, that doubled the bridge's cost per event.
    Freezing moves them out of the collector's sight (reference counting still frees
    them), and a larger first threshold collects the short-lived batch garbage less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def reloader_for(bridge: Bridge, settings: Settings, watched: tuple[Path, ...] = ()) -> Reloader:
    """Reload rules into ``bridge`` on request; Redis state (cooldowns, lifecycle) stays.

    ``watched``: the hotlist and side files the loaded config reads, polled with the rules
    file.
    """
    client = bridge.pipeline.cooldowns.client

    def apply(config: KlaxonConfig) -> None:
        # A reloaded file may carry new credentials: redact them before anything logs.
        SECRETS.add_channels(config.channels)
        bridge.replace_pipeline(build_pipeline(config, settings, client))
        settle_heap()

    bridge_name = f"{socket.gethostname()}:{os.getpid()}"

    def record(result: ReloadResult) -> None:
        record_reload(client, replace(result, bridge=bridge_name))

    return Reloader(
        settings.rules_config_path, settings.kafka_topic, apply, watched=watched, record=record
    )


def build_publisher(settings: Settings, client: redis.Redis) -> Publisher:
    app = make_app(settings)
    if settings.publisher == "celery":
        return CeleryPublisher(app)
    try:
        return PipelinedPublisher(app, client)
    except UnsupportedConfiguration as exc:
        raise BridgeError(f"{exc} (set KLAXON_PUBLISHER=celery)") from exc


def build_bridge(config: KlaxonConfig, settings: Settings, dry_run: bool = False) -> Bridge:
    client = redis.Redis.from_url(settings.redis_url)
    pipeline = build_pipeline(config, settings, client)
    consumer = Consumer(consumer_config(settings), logger=logging.getLogger("librdkafka"))
    wait_for_kafka(consumer, settings)
    publisher = build_publisher(settings, client)
    producer = Producer(producer_config(settings))
    dead_letters = DeadLetterTopic(producer, settings.dlq_suffix)
    registry = (
        SchemaRegistry(settings.schema_registry_url) if settings.schema_registry_url else None
    )
    alert_topic = AlertEventTopic(
        producer, settings.schemas_dir, settings.alert_events_topic, registry
    )
    bridge = Bridge(
        consumer,
        pipeline,
        publisher,
        dead_letters,
        AlertStore(client),
        alert_topic,
        dry_run=dry_run,
        redis_client=client,
        channels=sorted(name for name, channel in config.channels.items() if channel.enabled),
        recorder=StatsRecorder(client, "bridge"),
        fault=settings.fault,
        flusher=GroupFlusher(GroupStore(client), publisher),
    )
    bridge.subscribe(sorted(pipeline.engine.topics))
    settle_heap()
    return bridge
