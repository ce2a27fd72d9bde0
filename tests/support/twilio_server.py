"""A double of Twilio's Messages API on a real loopback HTTP server.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` with Basic auth ``sid:token`` and the
form fields ``To``, ``From`` or ``MessagingServiceSid`` and ``Body`` answers ``201`` with
a message resource as Twilio does; wrong credentials answer ``401`` with code 20003.
``fail(number, ...)`` queues error answers for one recipient, ``fail_next(...)`` for any;
an answer with a ``delay`` makes the double slow (timeouts).
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections import Counter, defaultdict, deque
from typing import Any

from tests.support.http_sink import Answer, HttpSink, Received

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-f00dfeed"
_DATE = "Wed, 01 May 2024 12:00:01 +0000"


def twilio_error(status: int, code: int, message: str, **headers: str) -> Answer:
    """An error answer in Twilio's JSON shape, which the client turns into its exception."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Answer(status, body, dict(headers))


def invalid_number(number: str) -> Answer:
    return twilio_error(400, 21211, f"The 'To' number {number} is not a valid phone number.")


AUTH_FAILED = twilio_error(401, 20003, "Authenticate")
TOO_MANY_REQUESTS = twilio_error(429, 20429, "Too Many Requests", **{"Retry-After": "7"})
SERVER_ERROR = twilio_error(500, 20500, "An internal server error has occurred")


class TwilioServer:
    """Accepts messages for one account; ``messages`` holds the accepted form fields."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.messages: list[dict[str, str]] = []  # accepted messages' form fields
        self.attempts: list[dict[str, str]] = []  # every POST's form fields
        self._lock = threading.Lock()
        self._per_number: dict[str, deque[Answer]] = defaultdict(deque)
        self._any: deque[Answer] = deque()
        self.sink = HttpSink(self._answer)
        self.base_url = self.sink.url("")

    def fail(self, number: str, *answers: Answer) -> None:
        """Answer the next messages to ``number`` with ``answers``, in order."""
        with self._lock:
            self._per_number[number].extend(answers)

    def fail_next(self, *answers: Answer) -> None:
        """Answer the next messages to any number with ``answers``, in order."""
        with self._lock:
            self._any.extend(answers)

    def delivered(self) -> Counter[str]:
        """How many messages each number was sent (accepted by this double)."""
        with self._lock:
            return Counter(message["To"] for message in self.messages)

    def reset(self) -> None:
        """Forget messages and queued failures, so one server can serve a whole module."""
        with self._lock:
            self.messages.clear()
            self.attempts.clear()
            self._per_number.clear()
            self._any.clear()

    def close(self) -> None:
        self.sink.close()

    def _authorized(self, request: Received) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.header("Authorization") == f"Basic {expected}"

    def _answer(self, request: Received) -> Answer:
        if request.method != "POST" or request.path != self.path:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        form = {key: values[0] for key, values in request.form().items()}
        with self._lock:
            self.attempts.append(form)
        if not self._authorized(request):
            return AUTH_FAILED
        to = form.get("To", "")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body"):
            return twilio_error(400, 21602, "Message body is required.")
        with self._lock:
            queue = self._per_number.get(to)
            scripted = queue.popleft() if queue else self._any.popleft() if self._any else None
            if scripted is not None:
                return scripted
            self.messages.append(form)
        return Answer(201, self._resource(form))

    def _resource(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": _DATE,
            "date_sent": None,
            "date_updated": _DATE,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if form.get("From") else "accepted",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
