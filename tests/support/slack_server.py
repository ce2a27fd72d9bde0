"""A double of Slack's incoming webhooks on a real loopback HTTP server.

``POST /services/T000/B000/XXXX`` answers ``200 ok`` as Slack does; ``fail()`` queues
Slack's real error answers (plain-text bodies such as ``channel_not_found``). The double
keeps its own record, so one server can serve a whole module: ``reset()`` between tests.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from tests.support.http_sink import Answer, HttpSink, Received

WEBHOOK_PATH = "/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"

# Slack's documented incoming-webhook errors: status and body.
ERRORS: dict[str, Answer] = {
    "invalid_payload": Answer(400, "invalid_payload"),
    "no_text": Answer(400, "no_text"),
    "invalid_token": Answer(403, "invalid_token"),
    "action_prohibited": Answer(403, "action_prohibited"),
    "channel_not_found": Answer(404, "channel_not_found"),
    "no_service": Answer(404, "no_service"),
    "channel_is_archived": Answer(410, "channel_is_archived"),
    "rate_limited": Answer(429, "rate_limited", {"Retry-After": "30"}),
    "rollup_error": Answer(500, "rollup_error"),
}


class SlackServer:
    """Accepts webhook posts at ``path``; anything else is ``404 no_service``."""

    def __init__(self, path: str = WEBHOOK_PATH) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._failures: deque[Answer] = deque()
        self.received: list[Received] = []
        self.sink = HttpSink(self._answer)
        self.port = self.sink.port
        self.webhook_url = self.sink.url(path)

    def fail(self, *errors: str | Answer) -> None:
        """Answer the next posts with Slack errors by name (``"channel_not_found"``) or as given."""
        with self._lock:
            self._failures.extend(ERRORS[e] if isinstance(e, str) else e for e in errors)

    def posts(self) -> list[dict[str, Any]]:
        """The JSON bodies of every post to the webhook, failed or not."""
        with self._lock:
            return [r.json() for r in self.received if r.path == self.path]

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self.received.clear()

    def close(self) -> None:
        self.sink.close()

    def _answer(self, request: Received) -> Answer:
        with self._lock:
            self.received.append(request)
            if request.method != "POST" or request.path != self.path:
                return ERRORS["no_service"]
            if self._failures:
                return self._failures.popleft()
        if "application/json" not in (request.header("Content-Type") or ""):
            return ERRORS["invalid_payload"]
        try:
            body = request.json()
        except ValueError:
            return ERRORS["invalid_payload"]
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return ERRORS["no_text"]
        return Answer(200, "ok")
