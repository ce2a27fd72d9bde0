"""A real HTTP server on loopback that records requests and answers as scripted.

Webhook, Slack and Twilio doubles build on it: ``script()`` queues canned answers per path
(failure injection: 500s, 429 with Retry-After, slow answers), ``handler`` computes answers.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.support.wait import wait_until


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


Handler = Callable[[Received], Answer]


class HttpSink:
    """Records every request; answers from the script for its path, else from ``handler``."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler: Handler = handler or (lambda _request: Answer())
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        sink = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Keep-alive answers would otherwise wait ~40 ms for the client's delayed ACK.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Received(
                    self.command, self.path, dict(self.headers.items()), body, time.time()
                )
                answer = sink._answer_for(request)
                if answer.delay:
                    time.sleep(answer.delay)
                payload = answer.body
                content_type = "text/plain"
                if isinstance(payload, dict | list):
                    payload = json.dumps(payload).encode()
                    content_type = "application/json"
                elif isinstance(payload, str):
                    payload = payload.encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout); the request is still recorded

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _RequestHandler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _answer_for(self, request: Received) -> Answer:
        path = request.path.split("?", 1)[0]
        with self._lock:
            script = self._scripts.get(path)
            scripted = script.popleft() if script else None
        # Record after choosing the answer so a test that sees N requests also sees the
        # script consumed N times.
        answer = scripted or self.handler(request)
        with self._lock:
            self._received.append(request)
        return answer

    def script(self, path: str, *answers: Answer) -> None:
        """Answer the next requests to ``path`` with ``answers``, in order, then as usual."""
        with self._lock:
            self._scripts[path].extend(answers)

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            items = list(self._received)
        if path is None:
            return items
        return [r for r in items if r.path.split("?", 1)[0] == path]

    def wait_for(
        self,
        count: int,
        path: str | None = None,
        timeout: float = 30.0,
        where: Callable[[Received], bool] | None = None,
    ) -> list[Received]:
        """Wait until at least ``count`` matching requests arrived; return them."""

        def matching() -> list[Received]:
            return [r for r in self.requests(path) if where is None or where(r)]

        wait_until(
            lambda: len(matching()) >= count,
            timeout=timeout,
            message=lambda: f"{count} request(s) at {path or 'any path'}, got {len(matching())}",
        )
        return matching()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
