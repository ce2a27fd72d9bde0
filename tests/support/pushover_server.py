"""A double of Pushover's Messages API on a real loopback HTTP server.

``POST /1/messages.json`` with a form holding a known ``token`` and ``user`` answers
``{"status": 1, "request": ...}``; anything else gets Pushover's 400 answer naming the
bad field, never its value. Emergency priority (2) needs ``retry`` >= 30 and ``expire``.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque

from tests.support.http_sink import Answer, HttpSink, Received

APP_TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
USER_KEY = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
MESSAGES_PATH = "/1/messages.json"


def pushover_error(status: int, field: str, error: str) -> Answer:
    return Answer(
        status, {field: "invalid", "errors": [error], "status": 0, "request": uuid.uuid4().hex}
    )


class PushoverServer:
    def __init__(self, app_token: str = APP_TOKEN, user_key: str = USER_KEY) -> None:
        self.app_token = app_token
        self.user_key = user_key
        self._lock = threading.Lock()
        self._failures: deque[Answer] = deque()
        self._messages: list[dict[str, str]] = []
        self.sink = HttpSink(self._answer)
        self.port = self.sink.port
        self.url = self.sink.url("")

    def fail(self, *answers: Answer) -> None:
        with self._lock:
            self._failures.extend(answers)

    def messages(self) -> list[dict[str, str]]:
        """The forms of every accepted message."""
        with self._lock:
            return list(self._messages)

    def close(self) -> None:
        self.sink.close()

    def _answer(self, request: Received) -> Answer:
        with self._lock:
            if self._failures:
                return self._failures.popleft()
        if request.method != "POST" or request.path != MESSAGES_PATH:
            return Answer(404, {"status": 0, "errors": ["not found"]})
        form = {key: values[0] for key, values in request.form().items()}
        if form.get("token") != self.app_token:
            return pushover_error(400, "token", "application token is invalid")
        if form.get("user") != self.user_key:
            return pushover_error(400, "user", "user identifier is invalid")
        if not form.get("message"):
            return pushover_error(400, "message", "message cannot be blank")
        if form.get("priority") == "2" and (
            int(form.get("retry", "0")) < 30 or not form.get("expire")
        ):
            return pushover_error(400, "retry", "retry is invalid")
        with self._lock:
            self._messages.append(form)
        return Answer(200, {"status": 1, "request": uuid.uuid4().hex})
