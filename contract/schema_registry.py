"""A minimal Confluent Schema Registry client: schemas by id, parsed once, and registration.

confluent-kafka's AvroDeserializer walks the schema on every message (~80 us); fetching
each id once and decoding with fastavro is ~4x faster (measured when the bridge was first built).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping

import fastavro
import requests

from contract.encoding import ParsedSchema
from contract.errors import DecodeError, DependencyDown


class SchemaRegistry:
    def __init__(self, url: str, timeout: float = 5.0, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self._parsed: dict[int, ParsedSchema] = {}
        self._lock = threading.Lock()

    def schema(self, schema_id: int) -> ParsedSchema:
        """The parsed writer schema for ``schema_id``; fetched from the registry once."""
        parsed = self._parsed.get(schema_id)
        if parsed is not None:
            return parsed
        with self._lock:
            parsed = self._parsed.get(schema_id)
            if parsed is None:
                parsed = self._parsed[schema_id] = self._fetch(schema_id)
        return parsed

    def _fetch(self, schema_id: int) -> ParsedSchema:
        address = f"{self.url}/schemas/ids/{schema_id}"
        try:
            response = self.session.get(address, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DependencyDown(f"Schema Registry at {self.url} did not answer: {exc}") from exc
        if response.status_code == 404:
            raise DecodeError(f"schema id {schema_id} is not in the Schema Registry at {self.url}")
        if response.status_code != 200:
            status = response.status_code
            raise DependencyDown(
                f"Schema Registry at {self.url} answered {status} for schema {schema_id}"
            )
        try:
            schema_text = response.json()["schema"]
            return fastavro.parse_schema(json.loads(schema_text))
        except (ValueError, KeyError, TypeError, fastavro.schema.SchemaParseException) as exc:
            raise DecodeError(
                f"schema id {schema_id} from the registry is not usable Avro: {exc}"
            ) from exc

    def register(self, subject: str, schema: Mapping[str, object]) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its id."""
        address = f"{self.url}/subjects/{subject}/versions"
        try:
            response = self.session.post(
                address,
                json={"schema": json.dumps(schema)},
                headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
                timeout=self.timeout,
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            raise DependencyDown(f"cannot register {subject} at {self.url}: {exc}") from exc
        return int(response.json()["id"])
