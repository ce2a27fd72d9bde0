"""Every registered channel keeps the same contract against its real local double.

One table per kind of server (HTTP status codes, SMTP reply codes) says which answers are
delivered, transient or permanent; every channel must also turn a refused connection into
TransientError(connection), a silent server into TransientError(timeout), and never show
a configured secret in an error, its repr, or the exceptions chained to it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme

from tasks.channels import CHANNELS, Channel, DeliveryError, PermanentError, Reason, TransientError
from tasks.channels import webhook as webhook_channel
from tests.support.http_sink import Answer, HttpSink, Received
from tests.support.ledger import (
    MemoryLedger,
    build_channel,
    parse_channel_settings,
    sample_notification,
)
from tests.support.ntfy_server import ACCESS_TOKEN, NtfyServer, ntfy_error
from tests.support.pushover_server import APP_TOKEN, USER_KEY, PushoverServer, pushover_error
from tests.support.slack_server import SlackServer
from tests.support.smtp_server import SmtpServer, free_port
from tests.support.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioServer, twilio_error

# Sends that get an answer have time to spare on a loaded machine; only the send to the
# silent server uses the short timeout, since it is what that send waits out.
TIMEOUT = 30.0
SILENT_TIMEOUT = 0.5
HTTP_TABLE = {
    "ok": (200, 201),
    "transient": (408, 429, 500, 502, 503),
    "permanent": (400, 401, 403, 404),
}
SMTP_TABLE = {"ok": (250,), "transient": (421, 450, 451), "permanent": (550, 553, 554)}
SMTP_PASSWORD = "smtp-pa55word-42"
WEBHOOK_TOKEN = "bearer-t0ken-77"
WEBHOOK_BASIC = "basic-pa55-99"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"sign-me-please-0123456789abcdef").decode()


@dataclass
class Harness:
    """A channel's double and how to point the channel at it, or at a dead or silent port."""

    table: dict[str, tuple[int, ...]]
    secrets: tuple[str, ...]
    inject: Callable[[int], None]  # the next send is answered with this code
    config: Callable[[str, int], dict[str, Any]]  # the channel's config for host:port
    port: int
    spec_name: str
    closers: list[Callable[[], None]] = field(default_factory=list)
    # The reason of a send to a server that never answers.
    silent_reason: Reason = Reason.TIMEOUT

    def channel(self, port: int | None = None, timeout: float = TIMEOUT) -> Channel:
        config = self.config("127.0.0.1", self.port if port is None else port)
        channel: Channel = build_channel(
            CHANNELS[self.spec_name], {**config, "timeout_seconds": timeout}
        )
        return channel


class Scripted:
    """An HttpSink handler answering from a queue of status codes, else 200."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: deque[Answer] = deque()

    def __call__(self, request: Received) -> Answer:
        with self.lock:
            return self.queue.popleft() if self.queue else Answer(200, "ok")

    def push(self, status: int) -> None:
        headers = {"Retry-After": "3"} if status in (429, 503) else {}
        with self.lock:
            self.queue.append(Answer(status, f"status {status}", headers))


APPRISE_PASSWORD = "apprise-pa55-0000"
# Apprise answers yes or no: every refusal may pass, so every one is transient.
APPRISE_TABLE = {
    "ok": (200, 201),
    "transient": (400, 401, 403, 404, 408, 429, 500, 502, 503),
    "permanent": (),
}


def apprise_harness() -> Harness:
    scripted = Scripted()
    sink = HttpSink(scripted)
    return Harness(
        table=APPRISE_TABLE,
        secrets=(APPRISE_PASSWORD,),
        inject=scripted.push,
        config=lambda host, port: {
            "urls": [f"json://klaxon:{APPRISE_PASSWORD}@{host}:{port}/hooks/apprise"],
        },
        port=sink.port,
        spec_name="apprise",
        closers=[sink.close],
        # Apprise words a read timeout as a connection error, like a refused connection.
        silent_reason=Reason.CONNECTION,
    )


def webhook_harness() -> Harness:
    scripted = Scripted()
    sink = HttpSink(scripted)
    return Harness(
        table=HTTP_TABLE,
        secrets=(WEBHOOK_TOKEN, WEBHOOK_BASIC, SIGNING_SECRET.removeprefix("whsec_")),
        inject=scripted.push,
        config=lambda host, port: {
            "url": f"http://{host}:{port}/hooks/klaxon",
            "headers": {"X-Api-Key": WEBHOOK_TOKEN},
            "auth": {"type": "basic", "username": "klaxon", "password": WEBHOOK_BASIC},
            "signing_secret": SIGNING_SECRET,
        },
        port=sink.port,
        spec_name="webhook",
        closers=[sink.close],
    )


def slack_harness() -> Harness:
    server = SlackServer()
    path = server.webhook_url.split(str(server.port), 1)[1]

    def inject(status: int) -> None:
        headers = {"Retry-After": "3"} if status == 429 else {}
        body = "ok" if status < 300 else "invalid_token" if status in (401, 403) else "no_text"
        server.fail(Answer(status, body, headers))

    return Harness(
        table=HTTP_TABLE,
        secrets=(path, path.rsplit("/", 1)[1]),
        inject=inject,
        config=lambda host, port: {"webhook_url": f"http://{host}:{port}{path}"},
        port=server.port,
        spec_name="slack",
        closers=[server.close],
    )


def sms_harness() -> Harness:
    server = TwilioServer()

    def inject(status: int) -> None:
        if status < 300:
            server.fail_next(Answer(status, {"sid": "SM" + "0" * 32, "status": "queued"}))
        else:
            server.fail_next(twilio_error(status, 20000 + status, f"status {status}"))

    return Harness(
        table=HTTP_TABLE,
        secrets=(AUTH_TOKEN,),
        inject=inject,
        config=lambda host, port: {
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "from_number": "+15551234567",
            "to_numbers": ["+15550000001"],
            "api_base_url": f"http://{host}:{port}",
        },
        port=server.sink.port,
        spec_name="sms",
        closers=[server.close],
    )


def ntfy_harness() -> Harness:
    server = NtfyServer()

    def inject(status: int) -> None:
        if status < 300:
            return  # the next publish is accepted as it is
        headers = {"Retry-After": "3"} if status == 429 else {}
        error = ntfy_error(status, f"status {status}")
        server.fail(Answer(status, error.body, headers))

    return Harness(
        table=HTTP_TABLE,
        secrets=(ACCESS_TOKEN,),
        inject=inject,
        config=lambda host, port: {
            "server_url": f"http://{host}:{port}",
            "topic": "klaxon-alerts",
            "access_token": ACCESS_TOKEN,
            "tags": ["rotating_light"],
        },
        port=server.port,
        spec_name="ntfy",
        closers=[server.close],
    )


def pushover_harness() -> Harness:
    server = PushoverServer()

    def inject(status: int) -> None:
        if status < 300:
            return  # the next message is accepted as it is
        headers = {"Retry-After": "3"} if status == 429 else {}
        error = pushover_error(status, "user", f"status {status}")
        server.fail(Answer(status, error.body, headers))

    return Harness(
        table=HTTP_TABLE,
        secrets=(APP_TOKEN, USER_KEY),
        inject=inject,
        config=lambda host, port: {
            "api_url": f"http://{host}:{port}",
            "app_token": APP_TOKEN,
            "user_key": USER_KEY,
        },
        port=server.port,
        spec_name="pushover",
        closers=[server.close],
    )


def email_harness(tmp: Any) -> Harness:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = SmtpServer("starttls", context, user=("klaxon", SMTP_PASSWORD))

    def inject(code: int) -> None:
        if code >= 300:
            server.fail_data(f"{code} {code // 100}.0.0 injected")

    return Harness(
        table=SMTP_TABLE,
        secrets=(SMTP_PASSWORD,),
        inject=inject,
        config=lambda host, port: {
            "smtp_host": host,
            "smtp_port": port,
            "security": "starttls",
            "ca_file": str(ca_file),
            "username": "klaxon",
            "password": SMTP_PASSWORD,
            "from_address": "klaxon@example.com",
            "recipients": ["ops@example.com"],
        },
        port=server.port,
        spec_name="email",
        closers=[server.close],
    )


def harness_builders(tmp: Callable[[], Any]) -> dict[str, Callable[[], Harness]]:
    return {
        "apprise": apprise_harness,
        "email": lambda: email_harness(tmp()),
        "ntfy": ntfy_harness,
        "pushover": pushover_harness,
        "slack": slack_harness,
        "sms": sms_harness,
        "webhook": webhook_harness,
    }


@pytest.fixture(scope="module", params=sorted(CHANNELS))
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    builders = harness_builders(lambda: tmp_path_factory.mktemp("email"))
    assert set(builders) == set(CHANNELS), "every registered channel needs a conformance harness"
    built = builders[request.param]()
    yield built
    for close in built.closers:
        close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def assert_no_secret(exc: DeliveryError, secrets: tuple[str, ...]) -> None:
    for link in chain(exc):
        for secret in secrets:
            assert secret not in str(link), f"{secret!r} in str({type(link).__name__})"
            assert secret not in repr(link), f"{secret!r} in repr({type(link).__name__})"


def outcome(harness: Harness, channel: Channel) -> DeliveryError | None:
    try:
        channel.send(sample_notification(harness.spec_name), MemoryLedger())
    except DeliveryError as exc:
        return exc
    return None


def test_channel_conformance(harness: Harness, silent_port: int) -> None:
    """Status table, refused connection, silent server, and no secret in any error."""
    channel = harness.channel()
    for expected, codes in harness.table.items():
        for code in codes:
            harness.inject(code)
            error = outcome(harness, channel)
            kind = {"ok": type(None), "transient": TransientError, "permanent": PermanentError}
            assert type(error) is kind[expected], f"{code}: expected {expected}, got {error!r}"
            if error is not None:
                assert str(code) in str(error), f"{code} not named in {error}"
                assert_no_secret(error, harness.secrets)

    refused = outcome(harness, harness.channel(port=free_port()))
    assert isinstance(refused, TransientError), refused
    assert refused.reason is Reason.CONNECTION, refused
    assert_no_secret(refused, harness.secrets)

    started = time.monotonic()
    silent = outcome(harness, harness.channel(port=silent_port, timeout=SILENT_TIMEOUT))
    assert isinstance(silent, TransientError), silent
    assert silent.reason is harness.silent_reason, silent
    assert time.monotonic() - started >= SILENT_TIMEOUT  # it waited for an answer
    assert_no_secret(silent, harness.secrets)


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_settings_repr_hides_secrets(name: str, tmp_path: Any) -> None:
    """A channel's settings can be logged: their repr shows no secret."""
    harness = harness_builders(lambda: tmp_path)[name]()
    try:
        settings, problems = parse_channel_settings(
            CHANNELS[name], harness.config("127.0.0.1", harness.port)
        )
        assert problems == []
        for secret in harness.secrets:
            assert secret not in repr(settings)
    finally:
        for close in harness.closers:
            close()


def verify_standard_webhook(
    secret: str, headers: dict[str, str], body: bytes, now: float, tolerance: int = 300
) -> bool:
    """Standard Webhooks verification written from the spec, not from the channel's code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now - int(timestamp)) > tolerance:
        return False
    content = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return True
    return False


def test_signature_verifier_matches_the_spec_example() -> None:
    """The verifier accepts the Standard Webhooks spec's own example, and rejects a change."""
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert verify_standard_webhook(secret, headers, b'{"test": 2432232314}', 1614265330)
    assert not verify_standard_webhook(secret, headers, b'{"test": 2432232315}', 1614265330)


def test_webhook_signature_verifies_against_the_received_body() -> None:
    """The webhook channel's signature verifies over the exact bytes the server received."""
    sink = HttpSink()
    try:
        channel = build_channel(
            webhook_channel.SPEC,
            {"url": sink.url("/hooks/klaxon"), "signing_secret": SIGNING_SECRET},
        )
        channel.clock = lambda: 1714564801.0
        notification = sample_notification("webhook")
        channel.send(notification, MemoryLedger())
        [request] = sink.requests("/hooks/klaxon")
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["webhook-id"] == notification.id
        assert headers["webhook-timestamp"] == "1714564801"
        assert verify_standard_webhook(SIGNING_SECRET, headers, request.body, 1714564801.0)
        assert not verify_standard_webhook(
            SIGNING_SECRET, headers, request.body + b" ", 1714564801.0
        )
        assert not verify_standard_webhook(SIGNING_SECRET, headers, request.body, 1714565802.0)
    finally:
        sink.close()
