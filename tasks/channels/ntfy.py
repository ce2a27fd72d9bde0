"""ntfy: one JSON publish to the server's root (``POST /`` with ``topic`` in the body).

JSON rather than ntfy's header form, because headers cannot carry a non-Latin-1 title.
ntfy answers errors as JSON (``{"code": 40301, "http": 403, "error": "forbidden"}``),
whose ``error`` the message repeats; the access token never appears in an error.
"""

from __future__ import annotations

import requests

from contract.channels import ntfy as settings_spec
from contract.channels.masking import masked_url
from contract.channels.ntfy import NtfySettings
from contract.jsonsafe import JsonObject
from contract.notification import Notification
from tasks.channels.base import ChannelSpec, RecipientLedger
from tasks.channels.errors import DeliveryError
from tasks.channels.http import raise_for_delivery, transport_errors

# A rule's priority (rules.model.PRIORITIES) as ntfy's 1 (min) .. 5 (urgent), when the
# channel sets none.
_PRIORITY = {"high": 4, "medium": 3, "low": 2}


def payload_of(notification: Notification, settings: NtfySettings) -> JsonObject:
    priority = settings.priority or _PRIORITY.get(notification.priority.lower(), 3)
    body: JsonObject = {
        "topic": settings.topic,
        "message": notification.message,
        "title": notification.subject or notification.rule_name,
        "priority": priority,
    }
    if settings.tags:
        body["tags"] = list(settings.tags)
    if settings.click_url:
        body["click"] = settings.click_url
    return body


def _error_detail(response: requests.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200]
    return str(answer.get("error", ""))[:200] if isinstance(answer, dict) else ""


class NtfyChannel:
    def __init__(self, settings: NtfySettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.target = f"ntfy {masked_url(settings.server_url)}"

    def _post(self, body: JsonObject) -> requests.Response | DeliveryError:
        headers = {}
        if self.settings.access_token:
            headers["Authorization"] = f"Bearer {self.settings.access_token}"
        try:
            with transport_errors(self.target):
                return self.session.post(
                    self.settings.server_url + "/",
                    json=body,
                    headers=headers,
                    timeout=self.settings.timeout_seconds,
                )
        except DeliveryError as exc:
            # Raised again outside the handler: no __context__ holding requests' own text.
            return type(exc)(str(exc), exc.reason, exc.retry_after)

    def send(self, notification: Notification, ledger: RecipientLedger) -> None:
        response = self._post(payload_of(notification, self.settings))
        if isinstance(response, DeliveryError):
            raise response
        detail = _error_detail(response) if response.status_code >= 300 else ""
        raise_for_delivery(response, self.target, detail)


SPEC = ChannelSpec(settings=settings_spec.SPEC, build=NtfyChannel)
