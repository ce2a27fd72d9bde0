"""A local double of the Confluent Schema Registry REST calls Klaxon uses."""

from __future__ import annotations

import json
import re
import threading

from tests.support.http_sink import Answer, HttpSink, Received

_REGISTER = re.compile(r"^/subjects/(?P<subject>[^/]+)/versions$")
_BY_ID = re.compile(r"^/schemas/ids/(?P<id>\d+)$")


class SchemaRegistryDouble:
    """POST /subjects/{subject}/versions registers; GET /schemas/ids/{id} answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, str] = {}
        self._subjects: set[str] = set()
        # Failure injection: schema ids whose lookups answer this status instead.
        self._failing: dict[int, int] = {}
        self.sink = HttpSink(self._handle)
        self.url = self.sink.url("").rstrip("/")

    def _handle(self, request: Received) -> Answer:
        path = request.path.split("?", 1)[0]
        if request.method == "POST" and (match := _REGISTER.match(path)):
            schema = json.loads(request.body)["schema"]
            canonical = json.dumps(json.loads(schema), sort_keys=True)
            with self._lock:
                schema_id = self._ids.setdefault(canonical, len(self._ids) + 1)
                self._schemas[schema_id] = schema
                self._subjects.add(match.group("subject"))
            return Answer(200, {"id": schema_id})
        if request.method == "GET" and path == "/subjects":
            with self._lock:
                return Answer(200, sorted(self._subjects))
        if request.method == "GET" and (match := _BY_ID.match(path)):
            schema_id = int(match.group("id"))
            with self._lock:
                failing = self._failing.get(schema_id)
                schema = self._schemas.get(schema_id)
            if failing is not None:
                return Answer(failing, {"error_code": failing * 100, "message": "injected"})
            if schema is None:
                return Answer(404, {"error_code": 40403, "message": "Schema not found"})
            return Answer(200, {"schema": schema})
        return Answer(404, {"error_code": 404, "message": "not found"})

    def fail_lookups(self, schema_id: int, status: int = 500) -> None:
        """Answer ``status`` to every lookup of ``schema_id`` until ``heal``."""
        with self._lock:
            self._failing[schema_id] = status

    def heal(self, schema_id: int) -> None:
        with self._lock:
            self._failing.pop(schema_id, None)

    def lookups(self) -> int:
        return sum(1 for r in self.sink.requests() if r.method == "GET")

    def close(self) -> None:
        self.sink.close()
