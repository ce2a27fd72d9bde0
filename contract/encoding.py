"""Events to bytes, the inverse of ``ingest.decoding``: for ``klaxon produce``, tests, benches."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro

# Confluent wire format: byte 0 is this magic byte, bytes 1-4 the big-endian schema id.
MAGIC_BYTE = 0


def avro(event: dict[str, Any], schema: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, event)
    return buffer.getvalue()


def registry_framed(event: dict[str, Any], schema: Any, schema_id: int) -> bytes:
    return bytes([MAGIC_BYTE]) + schema_id.to_bytes(4, "big") + avro(event, schema)


def json_bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), default=str).encode()
