"""Generic HTTP webhook: JSON body, configurable method, headers and auth, optional signing.

Signing follows the Standard Webhooks scheme: ``webhook-signature: v1,<base64 HMAC-SHA256>``
over ``{webhook-id}.{webhook-timestamp}.{body}``; see docs/channels.md for verification.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from klaxon.mapping import MappingReader
from tasks.channels.base import ChannelSpec, RecipientLedger
from tasks.channels.http import masked_url, raise_for_delivery, transport_errors
from tasks.notification import Notification

_METHODS = ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class WebhookSettings:
    # The URL and headers can hold secrets (``?token=``, ``Authorization``): kept out of repr.
    url: str = field(repr=False)
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    timeout_seconds: float = 10.0
    verify_tls: bool = True
    ca_file: str | None = None
    signing_secret: str | None = field(default=None, repr=False)


def parse_settings(reader: MappingReader) -> WebhookSettings:
    url = reader.required("url", str, "")
    if url and not url.startswith(("http://", "https://")):
        reader.error("url", f"must start with http:// or https://, got {masked_url(url)!r}")
    method = reader.optional("method", str, "POST").upper()
    if method not in _METHODS:
        reader.error("method", f"must be one of {', '.join(_METHODS)}, got {method!r}")
    headers_raw = reader.optional("headers", dict, {})
    headers: dict[str, str] = {}
    for name, value in headers_raw.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            reader.error(f"headers.{name}", f"expected a string, got {type(value).__name__}")
            continue
        headers[str(name)] = str(value)
    auth = reader.optional("auth", dict, {})
    bearer: str | None = None
    basic: tuple[str, str] | None = None
    if auth:
        auth_reader = MappingReader(auth, reader.field_path("auth"), reader.sink)
        kind = auth_reader.required("type", str, "")
        if kind == "bearer":
            bearer = auth_reader.required("token", str, "")
        elif kind == "basic":
            basic = (
                auth_reader.required("username", str, ""),
                auth_reader.required("password", str, ""),
            )
        elif kind:
            auth_reader.error("type", f'must be "bearer" or "basic", got {kind!r}')
        auth_reader.finish()
    timeout = reader.optional("timeout_seconds", float, 10.0)
    if timeout <= 0:
        reader.error("timeout_seconds", f"must be positive, got {timeout}")
    return WebhookSettings(
        url=url,
        method=method,
        headers=headers,
        bearer_token=bearer,
        basic_auth=basic,
        timeout_seconds=timeout,
        verify_tls=reader.optional("verify_tls", bool, True),
        ca_file=reader.optional("ca_file", str, None),
        signing_secret=reader.optional("signing_secret", str, None) or None,
    )


def signing_key(secret: str) -> bytes:
    """Standard Webhooks secrets are ``whsec_`` + base64; anything else is used as bytes."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def body_of(notification: Notification) -> dict[str, object]:
    return {
        "id": notification.id,
        "rule_id": notification.rule_id,
        "rule_name": notification.rule_name,
        "priority": notification.priority,
        "transition": notification.transition,
        "message": notification.message,
        "event": notification.event,
        "matched_at": notification.matched_at,
        "source": {
            "topic": notification.source.topic,
            "partition": notification.source.partition,
            "offset": notification.source.offset,
        },
        **({"alert": notification.alert} if notification.alert else {}),
    }


class WebhookChannel:
    def __init__(
        self,
        settings: WebhookSettings,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.clock = clock
        self.target = f"webhook {masked_url(settings.url)}"

    def send(self, notification: Notification, ledger: RecipientLedger) -> None:
        settings = self.settings
        body = json.dumps(body_of(notification), separators=(",", ":"), default=str).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "klaxon-webhook/1",
            "Idempotency-Key": notification.id,
            **settings.headers,
        }
        if settings.bearer_token:
            headers["Authorization"] = f"Bearer {settings.bearer_token}"
        if settings.signing_secret:
            timestamp = int(self.clock())
            headers["webhook-id"] = notification.id
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = sign(
                settings.signing_secret, notification.id, timestamp, body
            )
        verify: bool | str = settings.ca_file or settings.verify_tls
        with transport_errors(self.target):
            response = self.session.request(
                settings.method,
                settings.url,
                data=body,
                headers=headers,
                auth=settings.basic_auth,
                timeout=settings.timeout_seconds,
                verify=verify,
            )
        raise_for_delivery(response, self.target)


SPEC = ChannelSpec(name="webhook", parse_settings=parse_settings, build=WebhookChannel)
