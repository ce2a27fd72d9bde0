"""Events to bytes, the inverse of ``ingest.decoding``: for ``klaxon produce``, tests, benches."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import TypeAlias

import fastavro
from fastavro.types import Schema

# Confluent wire format: byte 0 is this magic byte, bytes 1-4 the big-endian schema id.
MAGIC_BYTE = 0

# A schema as fastavro.parse_schema returns it, handed back to fastavro to read or write.
ParsedSchema: TypeAlias = Schema


def avro(event: Mapping[str, object], schema: ParsedSchema) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, event)
    return buffer.getvalue()


def registry_framed(event: Mapping[str, object], schema: ParsedSchema, schema_id: int) -> bytes:
    return bytes([MAGIC_BYTE]) + schema_id.to_bytes(4, "big") + avro(event, schema)


def json_bytes(event: Mapping[str, object]) -> bytes:
    return json.dumps(event, separators=(",", ":"), default=str).encode()
