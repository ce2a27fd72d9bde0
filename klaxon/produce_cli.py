"""``klaxon produce``: publish realistic plate detections or device readings to any Kafka."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator

import click

from klaxon.devstack.encode import FORMATS, KIND_TOPICS, Format, default_format, make_encoder
from klaxon.devstack.events import DEFAULT_WATCHLIST, PlateGenerator, ReadingGenerator
from klaxon.devstack.publish import EventPublisher, KafkaDown, Pacer


def plate_events(
    rng: random.Random, watchlist: list[str], hit_rate: float
) -> Iterator[tuple[dict[str, object], object]]:
    generator = PlateGenerator(rng, watchlist, hit_rate)
    while True:
        event = generator.event()
        yield event, event["camera_id"]


def reading_events(rng: random.Random) -> Iterator[tuple[dict[str, object], object]]:
    """Every probe once per scenario second, so the thresholds are crossed every 40 rounds."""
    generator = ReadingGenerator(rng)
    second = 0
    while True:
        for event in generator.at(float(second)):
            yield event, event["device_id"]
        second += 1


@click.command()
@click.option("--kind", type=click.Choice(sorted(KIND_TOPICS)), default="plates", show_default=True)
@click.option("--count", type=click.IntRange(min=1), default=100, show_default=True)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Events per second; 0 sends as fast as possible.",
)
@click.option(
    "--watchlist-hit-rate",
    type=click.FloatRange(0, 1),
    default=0.1,
    show_default=True,
    help="Share of plates taken from --watchlist.",
)
@click.option("--topic", default=None, help="Default: alpr.plates.detected or devices.readings.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="avro (schemaless, local .avsc), registry (Confluent framing) or json; "
    "default: registry when SCHEMA_REGISTRY_URL is set, else avro.",
)
@click.option("--watchlist", default=",".join(DEFAULT_WATCHLIST), show_default=True)
@click.option("--bootstrap", default=None, help="Kafka brokers; default KAFKA_BOOTSTRAP_SERVERS.")
@click.option("--schema-registry", default=None, help="Default SCHEMA_REGISTRY_URL.")
@click.option("--seed", type=int, default=None, help="Seed the generators for repeatable events.")
def produce(
    *,
    kind: str,
    count: int,
    rate: float,
    watchlist_hit_rate: float,
    topic: str | None,
    fmt: Format | None,
    watchlist: str,
    bootstrap: str | None,
    schema_registry: str | None,
    seed: int | None,
) -> None:
    """Publish COUNT plate detections or device readings at RATE events per second."""
    bootstrap = bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "localhost:9092"
    registry_url = schema_registry or os.environ.get("SCHEMA_REGISTRY_URL") or None
    topic = topic or KIND_TOPICS[kind]
    fmt = fmt or default_format(registry_url)
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    plates = [p.strip().upper() for p in watchlist.split(",") if p.strip()]
    try:
        encode = make_encoder(fmt, kind, topic, registry_url)
    except Exception as exc:  # noqa: BLE001 - any failure here is a setup problem to report
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    events = (
        plate_events(rng, plates, watchlist_hit_rate) if kind == "plates" else reading_events(rng)
    )
    publisher = EventPublisher(bootstrap, linger_ms=5 if rate == 0 or rate > 100 else 0)
    try:
        publisher.check()
    except KafkaDown as exc:
        click.echo(f"error: {exc} (--bootstrap or KAFKA_BOOTSTRAP_SERVERS)", err=True)
        sys.exit(2)
    pacer = Pacer(rate)
    sent = 0
    try:
        for index, (event, key) in zip(range(count), events, strict=False):
            if not pacer.wait(index):
                break
            publisher.send(topic, encode(event), str(key).encode())
            sent += 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
    undelivered = publisher.flush(30)
    elapsed = max(pacer.elapsed(), 1e-9)
    click.echo(
        f"produced {publisher.delivered} {kind} event(s) to {topic} ({fmt}) "
        f"in {elapsed:.2f}s: {publisher.delivered / elapsed:.1f}/s"
    )
    if publisher.failed or undelivered or publisher.delivered < sent:
        click.echo(
            f"error: {publisher.failed + undelivered} of {sent} not delivered"
            + (f": {publisher.first_error}" if publisher.first_error else ""),
            err=True,
        )
        sys.exit(1)
