"""Producing and reading test events on the real broker."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from contract import encoding
from contract.schema_registry import SchemaRegistry
from tests.support.processes import ROOT
from tests.support.wait import wait_until

PLATE_SCHEMA = fastavro.parse_schema(
    json.loads((ROOT / "schemas" / "plate_event.avsc").read_text())
)
PLATE_SCHEMA_RAW = json.loads((ROOT / "schemas" / "plate_event.avsc").read_text())


def plate_event(plate: str, camera: str = "cam-1", **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "camera_id": camera,
        "track_id": f"trk-{uuid.uuid4().hex[:6]}",
        "captured_at": int(time.time() * 1000),
        "plate": {"text": plate, "normalized_text": plate, "confidence": 0.93, "region": "US-CA"},
        "vehicle": {"color": "blue", "make": "Toyota", "model": "Corolla", "type": "car"},
        "attributes": {},
    }
    event.update(overrides)
    return event


class PlateProducer:
    """Registry-framed Avro plate events, registered with the registry under <topic>-value."""

    def __init__(self, bootstrap: str, registry_url: str, topic: str) -> None:
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        self.schema_id = SchemaRegistry(registry_url).register(f"{topic}-value", PLATE_SCHEMA_RAW)

    def send(self, *events: dict[str, Any], partition: int | None = None) -> None:
        for event in events:
            value = encoding.registry_framed(event, PLATE_SCHEMA, self.schema_id)
            self.raw(value, key=event["camera_id"].encode(), partition=partition)

    def raw(self, value: bytes, key: bytes | None = None, partition: int | None = None) -> None:
        kwargs: dict[str, Any] = {"key": key}
        if partition is not None:
            kwargs["partition"] = partition
        self.producer.produce(self.topic, value=value, **kwargs)
        assert self.producer.flush(10) == 0


def read_all(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[Any]:
    """Read ``count`` messages from ``topic`` from the beginning, with a fresh group."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 2000,
            "heartbeat.interval.ms": 500,
        }
    )
    consumer.subscribe([topic])
    got: list[Any] = []
    try:

        def enough() -> bool:
            got.extend(m for m in consumer.consume(100, timeout=0.2) if m.error() is None)
            return len(got) >= count

        wait_until(
            enough,
            timeout=timeout,
            message=lambda: f"{count} message(s) on {topic}, got {len(got)}",
        )
    finally:
        consumer.close()
    return got


def committed(bootstrap: str, group: str, topic: str, partitions: int = 4) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in offsets if tp.offset >= 0}


def write_schema_file(path: Path) -> Path:
    path.write_text(json.dumps(PLATE_SCHEMA_RAW))
    return path


def create_topics(bootstrap: str, *names: str, partitions: int = 4) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # Keep ``admin`` referenced until every future resolved, or librdkafka destroys it.
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions) for n in names])
    for future in futures.values():
        future.result(timeout=15)
