"""Alert events on Kafka (``klaxon.alert-events``, Avro), for downstream systems to persist.

Produced before the batch's offsets are committed; a replay produces a transition again,
so consumers should treat (id, transition) as the key (at-least-once, like any Kafka feed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import fastavro
from confluent_kafka import KafkaException, Producer

from alerts.store import AlertEvent
from contract import encoding
from contract.encoding import ParsedSchema
from contract.notification import TransitionKind
from contract.schema_registry import SchemaRegistry

DEFAULT_TOPIC = "klaxon.alert-events"


def load_alert_schema(schemas_dir: Path) -> tuple[dict[str, object], ParsedSchema]:
    raw: dict[str, object] = json.loads((schemas_dir / "alert_event.avsc").read_text())
    return raw, fastavro.parse_schema(raw)


def to_record(event: AlertEvent, transition: TransitionKind) -> dict[str, object]:
    return {
        "id": event.id,
        "transition": transition.value,
        "rule_id": event.rule_id,
        "device_id": event.device_id,
        "triggered_at": int(event.triggered_at * 1000),
        "current_value": event.current_value,
        "threshold_value": event.threshold_value,
        "operator": event.operator,
        "metric": event.metric,
        "is_resolved": event.is_resolved,
        "resolved_at": None if event.resolved_at is None else int(event.resolved_at * 1000),
        "resolution_value": event.resolution_value,
        "metadata": {str(k): str(v) for k, v in event.metadata.items()},
    }


class AlertEventTopic:
    def __init__(
        self,
        producer: Producer,
        schemas_dir: Path,
        topic: str = DEFAULT_TOPIC,
        registry: SchemaRegistry | None = None,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.raw_schema, self.schema = load_alert_schema(schemas_dir)
        self.registry = registry
        self._schema_id: int | None = None
        self._failed: list[str] = []

    def _encode(self, record: dict[str, object]) -> bytes:
        if self.registry is None:
            return encoding.avro(record, self.schema)
        if self._schema_id is None:
            self._schema_id = self.registry.register(f"{self.topic}-value", self.raw_schema)
        return encoding.registry_framed(record, self.schema, self._schema_id)

    def publish(self, events: Sequence[tuple[AlertEvent, TransitionKind]]) -> None:
        for event, transition in events:

            def delivered(err: object, _msg: object, alert_id: str = event.id) -> None:
                if err is not None:
                    self._failed.append(f"{alert_id}: {err}")

            self.producer.produce(
                self.topic,
                key=f"{event.rule_id}:{event.device_id}".encode(),
                value=self._encode(to_record(event, transition)),
                on_delivery=delivered,
            )

    def flush(self, timeout: float = 30.0) -> None:
        remaining = self.producer.flush(timeout)
        failed, self._failed = self._failed, []
        if remaining or failed:
            raise KafkaException(f"alert events not stored ({remaining} pending): {failed}")
