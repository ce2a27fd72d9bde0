"""Device readings on the real broker, schemaless Avro with the local schema."""

from __future__ import annotations

import json
from typing import Any

import fastavro
from confluent_kafka import Producer

from contract import encoding
from tests.support.processes import ROOT

READING_SCHEMA_PATH = ROOT / "schemas" / "device_reading.avsc"
READING_SCHEMA = fastavro.parse_schema(json.loads(READING_SCHEMA_PATH.read_text()))
T0_MS = 1_700_000_000_000


def reading(
    device: str, metric: str, value: float | None, at_seconds: float = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "device_id": device,
        "metric": metric,
        "value": value,
        "json_value": extra.pop("json_value", None),
        "metadata": extra.pop("metadata", None),
        "timestamp": T0_MS + int(at_seconds * 1000),
        "unit": extra.pop("unit", "C"),
    }


class ReadingProducer:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})

    def send(self, *readings: dict[str, Any]) -> None:
        for item in readings:
            self.producer.produce(
                self.topic,
                key=item["device_id"].encode(),  # one device, one partition: ordered
                value=encoding.avro(item, READING_SCHEMA),
            )
        assert self.producer.flush(10) == 0
