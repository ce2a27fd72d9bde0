"""Bytes to events: Confluent wire-format Avro, schemaless Avro with a local schema, JSON.

Each topic gets one ``Decoder``. With format ``auto`` it decides per message: registry
framing (magic byte 0, then a 4-byte schema id) when a registry is configured, JSON when
the payload starts with ``{``, else schemaless Avro when the topic has a local schema.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro

from contract.encoding import MAGIC_BYTE
from contract.errors import DecodeError
from contract.schema_registry import SchemaRegistry

FORMATS = ("auto", "registry", "avro", "json")


def load_schema(path: Path) -> Any:
    try:
        return fastavro.parse_schema(json.loads(path.read_text()))
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise DecodeError(f"cannot load Avro schema {path}: {exc}") from exc


class Decoder:
    def __init__(
        self,
        topic: str,
        fmt: str = "auto",
        local_schema: Any | None = None,
        registry: SchemaRegistry | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} for topic {topic}")
        if fmt == "registry" and registry is None:
            raise ValueError(
                f"topic {topic} uses registry framing but SCHEMA_REGISTRY_URL is not set"
            )
        if fmt == "avro" and local_schema is None:
            raise ValueError(f"topic {topic} uses schemaless Avro but has no local schema")
        self.topic = topic
        self.format = fmt
        self.local_schema = local_schema
        self.registry = registry

    def decode(self, value: bytes | None) -> dict[str, Any]:
        if not value:
            raise DecodeError("empty message (null or zero bytes)")
        fmt = self.format
        if fmt == "auto":
            fmt = self._sniff(value)
        if fmt == "registry":
            return self._registry(value)
        if fmt == "json":
            return self._json(value)
        return self._avro(value, self.local_schema)

    def _sniff(self, value: bytes) -> str:
        if value[0] == MAGIC_BYTE and self.registry is not None and len(value) > 5:
            return "registry"
        if value.lstrip()[:1] == b"{":
            return "json"
        if self.local_schema is not None:
            return "avro"
        raise DecodeError(
            "not JSON, and the topic has no local Avro schema"
            + ("" if self.registry else " (and SCHEMA_REGISTRY_URL is not set)")
        )

    def _registry(self, value: bytes) -> dict[str, Any]:
        if len(value) < 6 or value[0] != MAGIC_BYTE:
            raise DecodeError(
                f"not Confluent wire format: first byte {value[0]}, length {len(value)}"
            )
        assert self.registry is not None
        schema_id = int.from_bytes(value[1:5], "big")
        return self._avro(value[5:], self.registry.schema(schema_id), f"schema id {schema_id}")

    @staticmethod
    def _avro(payload: bytes, schema: Any, label: str = "local schema") -> dict[str, Any]:
        buffer = io.BytesIO(payload)
        try:
            record = fastavro.schemaless_reader(buffer, schema, None)
        except Exception as exc:
            raise DecodeError(
                f"Avro decode with {label} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if buffer.tell() != len(payload):
            raise DecodeError(
                f"Avro decode with {label} left {len(payload) - buffer.tell()} byte(s) unread"
            )
        if not isinstance(record, dict):
            raise DecodeError(f"Avro value with {label} is not a record")
        return record

    @staticmethod
    def _json(value: bytes) -> dict[str, Any]:
        try:
            event = json.loads(value)
        except (UnicodeDecodeError, ValueError) as exc:
            raise DecodeError(f"invalid JSON: {exc}") from exc
        if not isinstance(event, dict):
            raise DecodeError(f"JSON value is a {type(event).__name__}, not an object")
        return event
