"""Bytes to events: Confluent wire-format Avro, schemaless Avro with a local schema, JSON.

Each topic gets one ``Decoder``. With format ``auto`` it decides per message: registry
framing (magic byte 0, then a 4-byte schema id) when a registry is configured, JSON when
the payload starts with ``{``, else schemaless Avro when the topic has a local schema.

Decoding is total: for any bytes, ``decode`` returns an event (a dict) or raises
``DecodeError`` with the reason; only ``DependencyDown`` (the Schema Registry did not
answer) passes through, so that the batch is retried. An event over the topic's
``EventLimits`` (size, nesting depth) or holding NaN or Infinity is a ``DecodeError`` too.

JSON is parsed with orjson: strict RFC 8259 (no NaN, no Infinity, no lone surrogates),
bounded recursion (1024), and ~4x faster than the standard library on plate events.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Protocol

import fastavro
import orjson
from fastavro.types import Schema as AvroSchema

from contract.encoding import MAGIC_BYTE
from contract.errors import DecodeError, DependencyDown
from ingest.limits import AvroCheck, EventLimits, avro_check, json_problem

FORMATS = ("auto", "registry", "avro", "json")
# What the standard library would have parsed as numbers; orjson stops at their first byte.
_NON_FINITE = (b"Infinity", b"NaN")


class SchemaSource(Protocol):
    """Writer schemas by id: ``contract.schema_registry.SchemaRegistry``."""

    def schema(self, schema_id: int) -> AvroSchema: ...


def load_schema(path: Path) -> AvroSchema:
    try:
        return fastavro.parse_schema(json.loads(path.read_text()))
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise DecodeError(f"cannot load Avro schema {path}: {exc}") from exc


class Decoder:
    def __init__(
        self,
        topic: str,
        fmt: str = "auto",
        local_schema: AvroSchema | None = None,
        registry: SchemaSource | None = None,
        limits: EventLimits | None = None,
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
        self.limits = limits or EventLimits()
        self._local_check = (
            avro_check(local_schema, self.limits.max_depth) if local_schema is not None else None
        )
        # Per schema id, compiled the first time the id is seen.
        self._registry_checks: dict[int, AvroCheck | None] = {}

    def decode(self, value: bytes | None) -> dict[str, object]:
        """The event in ``value``; raise DecodeError (or DependencyDown) and nothing else."""
        if not value:
            raise DecodeError("empty message (null or zero bytes)")
        problem = self.limits.size_problem(len(value))
        if problem is not None:
            raise DecodeError(problem)
        try:
            return self._decode(value)
        except (DecodeError, DependencyDown):
            raise
        except Exception as exc:
            # RecursionError, MemoryError, ... from a parser: still this message's fault.
            raise DecodeError(f"cannot decode: {type(exc).__name__}: {exc}") from exc

    def _decode(self, value: bytes) -> dict[str, object]:
        fmt = self.format
        if fmt == "auto":
            fmt = self._sniff(value)
        if fmt == "registry":
            return self._registry(value)
        if fmt == "json":
            return self._json(value)
        assert self.local_schema is not None  # "avro" is chosen only with a local schema
        return self._avro(value, self.local_schema, self._local_check)

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

    def _registry(self, value: bytes) -> dict[str, object]:
        if len(value) < 6 or value[0] != MAGIC_BYTE:
            raise DecodeError(
                f"not Confluent wire format: first byte {value[0]}, length {len(value)}"
            )
        assert self.registry is not None
        schema_id = int.from_bytes(value[1:5], "big")
        schema = self.registry.schema(schema_id)
        if schema_id in self._registry_checks:
            check = self._registry_checks[schema_id]
        else:
            check = self._registry_checks[schema_id] = avro_check(schema, self.limits.max_depth)
        return self._avro(value[5:], schema, check, f"schema id {schema_id}")

    @staticmethod
    def _avro(
        payload: bytes, schema: AvroSchema, check: AvroCheck | None, label: str = "local schema"
    ) -> dict[str, object]:
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
        problem = check(record) if check is not None else None
        if problem is not None:
            raise DecodeError(problem)
        return record

    def _json(self, value: bytes) -> dict[str, object]:
        max_depth = self.limits.max_depth
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc):  # orjson's own limit (1024) is over any max_depth
                raise DecodeError(f"nesting deeper than max_depth ({max_depth})") from exc
            literal = next((w for w in _NON_FINITE if value.startswith(w, exc.pos)), None)
            if literal is not None:
                raise DecodeError(
                    f"invalid JSON: {literal.decode()} at char {exc.pos} "
                    "(NaN and Infinity are not JSON: such events are rejected)"
                ) from exc
            raise DecodeError(f"invalid JSON: {exc}") from exc
        if not isinstance(event, dict):
            raise DecodeError(f"JSON value is a {type(event).__name__}, not an object")
        problem = json_problem(value, event, max_depth)
        if problem is not None:
            raise DecodeError(problem)
        return event
