"""A double of an ntfy server's publish API on a real loopback HTTP server.

``POST /`` with a JSON body naming the ``topic`` publishes, as ntfy does; with a token
set, a request without ``Authorization: Bearer <token>`` gets ntfy's 403 answer. ``fail()``
queues answers for the next publishes. ``messages(topic)`` is what subscribers would see.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import Any

from tests.support.http_sink import Answer, HttpSink, Received

ACCESS_TOKEN = "tk_ntfy0acce55t0ken0f0r0test5"


def ntfy_error(status: int, error: str) -> Answer:
    """ntfy's JSON error answer: ``{"code": 40301, "http": 403, "error": "forbidden"}``."""
    return Answer(status, {"code": status * 100 + 1, "http": status, "error": error})


class NtfyServer:
    def __init__(self, access_token: str | None = ACCESS_TOKEN) -> None:
        self.access_token = access_token
        self._lock = threading.Lock()
        self._failures: deque[Answer] = deque()
        self._messages: list[dict[str, Any]] = []
        self.sink = HttpSink(self._answer)
        self.port = self.sink.port
        self.url = self.sink.url("")

    def fail(self, *answers: Answer) -> None:
        with self._lock:
            self._failures.extend(answers)

    def messages(self, topic: str | None = None) -> list[dict[str, Any]]:
        """Every published message (of ``topic``), as ntfy would hand it to subscribers."""
        with self._lock:
            return [m for m in self._messages if topic is None or m["topic"] == topic]

    def close(self) -> None:
        self.sink.close()

    def _answer(self, request: Received) -> Answer:
        with self._lock:
            if self._failures:
                return self._failures.popleft()
        if request.method != "POST" or request.path != "/":
            return ntfy_error(404, "page not found")
        if self.access_token and request.header("Authorization") != f"Bearer {self.access_token}":
            return ntfy_error(403, "forbidden")
        try:
            body = request.json()
        except ValueError:
            return ntfy_error(400, "invalid request: request body must be message JSON")
        if not isinstance(body, dict) or not isinstance(body.get("topic"), str):
            return ntfy_error(400, "invalid request: topic invalid")
        priority = body.get("priority", 3)
        if not isinstance(priority, int) or not 1 <= priority <= 5:
            return ntfy_error(400, "invalid request: priority invalid")
        message = {
            "id": uuid.uuid4().hex[:12],
            "time": int(time.time()),
            "event": "message",
            **body,
        }
        with self._lock:
            self._messages.append(message)
        return Answer(200, message)
