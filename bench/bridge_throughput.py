"""Bridge events/s against the raw limit (consume + fastavro decode, no rules), side by side.

    .venv/bin/python -m bench.bridge_throughput [--events 200000] [--runs 3]

200,000 registry-framed Avro plate events on a 4-partition topic (20,000 distinct events
encoded once, repeated with fresh event ids), 100 rules (a 10,000-plate watchlist with a
cooldown, 10 regex rules, 69 equality+range and 20 range rules; ~1% of events match).
Each run reads the whole topic with a new consumer group:

- raw: a confluent-kafka consume loop (the bridge's consumer settings and batch size) that
  decodes every message with fastavro (schema parsed once per id), nothing else;
- bridge: ``ingest.wiring.build_bridge`` in-process, ``Bridge.run`` in a thread, with
  ``CeleryPublisher`` and with ``PipelinedPublisher``; done when the group's committed
  offsets (read with OffsetFetch, not watermarks) reach the counted end of every partition.

Both clocks start when the partitions are assigned (the group join is not counted).
Variants are interleaved within each run so that load from elsewhere hits them alike.
"""

from __future__ import annotations

import argparse
import io
import logging
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import fastavro
import redis
from confluent_kafka import Consumer

from bench._common import (
    CommitWatch,
    Env,
    World,
    encode,
    environment,
    header,
    match_rate,
    median,
    new_topic,
    produce_all,
    register,
    stream,
    table,
)
from contract.celery_app import make_app
from contract.fast_publisher import PipelinedPublisher
from contract.publisher import CeleryPublisher
from contract.schema_registry import SchemaRegistry
from contract.settings import Settings
from ingest.wiring import build_bridge, build_decoders, consumer_config
from rules.config import load_config
from rules.engine import RuleEngine

WATCH_INTERVAL = 0.05  # seconds between OffsetFetch polls of the group
VARIANTS = ("raw", "bridge+CeleryPublisher", "bridge+PipelinedPublisher")


def settings_for(env: Env, topic: str, config_path: Path) -> Settings:
    return Settings(
        kafka_bootstrap_servers=env.bootstrap,
        kafka_topic=topic,
        kafka_group_id=f"bench-{uuid.uuid4().hex[:8]}",
        kafka_session_timeout_ms=2000,
        schema_registry_url=env.registry.url,
        rules_config_path=config_path,
        redis_url=env.redis_url,
    )


def run_raw(env: Env, settings: Settings, topic: str, total: int) -> tuple[float, int]:
    """Seconds from assignment until ``total`` messages are consumed and decoded."""
    consumer = Consumer(consumer_config(settings))
    registry = SchemaRegistry(env.registry.url)
    schemas: dict[int, Any] = {}
    started: list[float] = []
    consumer.subscribe([topic], on_assign=lambda _c, _p: started.append(time.perf_counter()))
    count = 0
    try:
        while count < total:
            for message in consumer.consume(500, timeout=0.5):
                if message.error() is not None:
                    continue
                value = message.value() or b""
                schema_id = int.from_bytes(value[1:5], "big")
                schema = schemas.get(schema_id)
                if schema is None:
                    schema = schemas[schema_id] = registry.schema(schema_id)
                fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)
                count += 1
        return time.perf_counter() - started[0], count
    finally:
        consumer.close()


def run_bridge(
    env: Env, settings: Settings, topic: str, ends: dict[int, int], publisher: str
) -> tuple[float, int]:
    """Seconds from assignment until every offset is committed; notifications enqueued."""
    client = redis.Redis.from_url(env.redis_url)
    client.flushdb()  # cooldowns and queues of the previous run
    config = load_config(settings.rules_config_path, default_topic=topic)
    bridge = build_bridge(config, settings)
    app = make_app(settings)
    if publisher == "bridge+PipelinedPublisher":
        bridge.publisher = PipelinedPublisher(app, client)
    else:
        bridge.publisher = CeleryPublisher(app)
    watch = CommitWatch(env, settings.kafka_group_id, topic, ends)
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not bridge.assigned:
            if time.monotonic() > deadline:
                raise TimeoutError("the bridge was not assigned partitions within 60 s")
            time.sleep(0.002)
        started = time.perf_counter()
        finished = watch.wait(timeout=600, interval=WATCH_INTERVAL)
        stats = bridge.stats
        print(f"    {publisher}: {stats.events / max(stats.batches, 1):.0f} events a batch")
        return finished - started, bridge.stats.enqueued
    finally:
        stop.set()
        thread.join(30)
        bridge.close()
        watch.close()
        client.close()


def breakdown(
    env: Env, settings: Settings, topic: str, records: list[tuple[bytes, bytes]]
) -> dict[str, float]:
    """In-process microseconds per event of the bridge's two big steps (no Kafka)."""
    config = load_config(settings.rules_config_path, default_topic=topic)
    decoder = build_decoders(config, settings, {topic})[topic]
    engine = RuleEngine(config.rules)
    values = [value for _, value in records]
    schema = SchemaRegistry(env.registry.url).schema(int.from_bytes(values[0][1:5], "big"))
    started = time.perf_counter()
    for value in values:
        fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)
    raw = time.perf_counter() - started
    started = time.perf_counter()
    events = [decoder.decode(value) for value in values]
    decode = time.perf_counter() - started
    started = time.perf_counter()
    for event in events:
        engine.evaluate(topic, event)
    rules = time.perf_counter() - started
    scale = 1e6 / len(values)
    return {"fastavro": raw * scale, "decoder": decode * scale, "rules": rules * scale}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--pool", type=int, default=20_000, help="distinct events encoded")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    header("bridge throughput", events=options.events, runs=options.runs, rules=100)
    world = World()
    with environment() as env, tempfile.TemporaryDirectory() as workdir:
        topic = new_topic(env)
        config_path = world.write_config(Path(workdir) / "rules.yaml", topic, "http://127.0.0.1:9/")
        pool_events = list(world.events(min(options.pool, options.events)))
        print(f"match rate of the events: {match_rate(config_path, topic, pool_events):.2%}")
        records = stream(encode(pool_events, register(env, topic)), options.events)
        started = time.perf_counter()
        counted = produce_all(env, topic, records)
        print(
            f"produced {counted.total:,} events in {time.perf_counter() - started:.1f} s "
            f"({counted.per_partition})",
            flush=True,
        )

        costs = breakdown(env, settings_for(env, topic, config_path), topic, records[:20_000])
        print(
            "in-process cost per event: fastavro decode {fastavro:.1f} us, the bridge's "
            "Decoder {decoder:.1f} us, rule engine {rules:.1f} us".format(**costs),
            flush=True,
        )

        rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        enqueued: dict[str, list[int]] = {variant: [] for variant in VARIANTS}
        for run in range(1, options.runs + 1):
            for variant in VARIANTS:
                settings = settings_for(env, topic, config_path)
                if variant == "raw":
                    seconds, count = run_raw(env, settings, topic, counted.total)
                else:
                    seconds, count = run_bridge(
                        env, settings, topic, counted.per_partition, variant
                    )
                rates[variant].append(counted.total / seconds)
                enqueued[variant].append(count)
                print(
                    f"run {run} {variant:26s} {counted.total / seconds:>9,.0f} events/s "
                    f"({seconds:.2f} s, {count:,} {'decoded' if variant == 'raw' else 'enqueued'})",
                    flush=True,
                )

    raw = median(rates["raw"])
    print()
    print(
        table(
            ["variant", "events/s (median)", "runs", "of raw (median of per-run ratios)"],
            [
                (
                    variant,
                    median(rates[variant]),
                    " ".join(f"{r:,.0f}" for r in rates[variant]),
                    "-" if variant == "raw" else f"{_ratio(rates[variant], rates['raw']):.0%}",
                )
                for variant in VARIANTS
            ],
        )
    )
    print(f"\nraw limit {raw:,.0f} events/s; target: bridge >= 50% of raw")


def _ratio(values: list[float], against: list[float]) -> float:
    return median([v / a for v, a in zip(values, against, strict=True)])


if __name__ == "__main__":
    main()
