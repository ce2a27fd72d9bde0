"""Event encoders for ``klaxon produce`` and the demo: schemaless Avro, registry-framed Avro, JSON.

Schemaless Avro with the local ``.avsc`` needs no Schema Registry: the bridge decodes it
with the same file. Registry framing registers the schema under ``<topic>-value`` first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import fastavro

from contract import encoding
from contract.schema_registry import SchemaRegistry
from contract.settings import Settings
from ingest.wiring import DEFAULT_SCHEMAS
from klaxon.devstack.events import PLATE_TOPIC, READING_TOPIC

Format = Literal["avro", "registry", "json"]
FORMATS: tuple[Format, ...] = ("avro", "registry", "json")
Encoder = Callable[[Mapping[str, object]], bytes]

# The schema of each kind of event, whatever topic it is sent to.
KIND_TOPICS = {"plates": PLATE_TOPIC, "readings": READING_TOPIC}


def schema_path(kind: str, schemas_dir: Path | None = None) -> Path:
    directory = schemas_dir or Settings.from_env().schemas_dir
    return directory / DEFAULT_SCHEMAS[KIND_TOPICS[kind]]


def read_schema(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def make_encoder(fmt: Format, kind: str, topic: str, registry_url: str | None = None) -> Encoder:
    """An encoder of ``kind`` events for ``topic``; ``registry`` registers the schema first."""
    if fmt == "json":
        return encoding.json_bytes
    raw = read_schema(schema_path(kind))
    parsed = fastavro.parse_schema(raw)
    if fmt == "avro":
        return lambda event: encoding.avro(event, parsed)
    if not registry_url:
        raise ValueError("--format registry needs a Schema Registry (SCHEMA_REGISTRY_URL)")
    schema_id = SchemaRegistry(registry_url).register(f"{topic}-value", raw)
    return lambda event: encoding.registry_framed(event, parsed, schema_id)


def default_format(registry_url: str | None) -> Format:
    """Registry framing when a Schema Registry is configured, else schemaless Avro."""
    return "registry" if registry_url else "avro"
