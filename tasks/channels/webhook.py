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

import requests

from contract.channels import webhook as settings_spec
from contract.channels.masking import masked_url
from contract.channels.webhook import WebhookSettings
from contract.notification import Notification
from tasks.channels.base import ChannelSpec, RecipientLedger
from tasks.channels.http import raise_for_delivery, transport_errors


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
        # The alert's one-click ack and silence links (contract.ack_links), when signed.
        **({"links": notification.links} if notification.links else {}),
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


SPEC = ChannelSpec(settings=settings_spec.SPEC, build=WebhookChannel)
