"""Pushover: one form POST to ``/1/messages.json`` with the app token and user key.

Pushover answers ``{"status": 1}`` on success and a 4xx with ``{"status": 0, "errors":
[...]}`` otherwise; the errors name the field ("user identifier is invalid"), never its
value, and the message repeats them. 429 means the application is over its monthly limit.
"""

from __future__ import annotations

import requests

from contract.channels import pushover as settings_spec
from contract.channels.masking import masked_url
from contract.channels.pushover import EMERGENCY, MAX_MESSAGE, MAX_TITLE, PushoverSettings
from contract.notification import Notification
from tasks.channels.base import ChannelSpec, RecipientLedger
from tasks.channels.errors import DeliveryError
from tasks.channels.http import raise_for_delivery, transport_errors

MESSAGES_PATH = "/1/messages.json"
# A rule's priority (rules.model.PRIORITIES) as Pushover's -1 (quiet) .. 1 (high), when
# the channel sets none; emergency (2) only when the channel says so.
_PRIORITY = {"high": 1, "medium": 0, "low": -1}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def form_of(notification: Notification, settings: PushoverSettings) -> dict[str, str]:
    priority = settings.priority
    if priority is None:
        priority = _PRIORITY.get(notification.priority.lower(), 0)
    form = {
        "token": settings.app_token,
        "user": settings.user_key,
        "message": _cut(notification.message, MAX_MESSAGE),
        "title": _cut(notification.subject or notification.rule_name, MAX_TITLE),
        "priority": str(priority),
    }
    if priority == EMERGENCY:
        form["retry"] = str(settings.retry_seconds)
        form["expire"] = str(settings.expire_seconds)
    if settings.device:
        form["device"] = settings.device
    if settings.sound:
        form["sound"] = settings.sound
    return form


def _error_detail(response: requests.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200]
    errors = answer.get("errors") if isinstance(answer, dict) else None
    return "; ".join(map(str, errors))[:200] if isinstance(errors, list) else ""


class PushoverChannel:
    def __init__(self, settings: PushoverSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.target = f"pushover {masked_url(settings.api_url)}"

    def _post(self, form: dict[str, str]) -> requests.Response | DeliveryError:
        try:
            with transport_errors(self.target):
                return self.session.post(
                    self.settings.api_url + MESSAGES_PATH,
                    data=form,
                    timeout=self.settings.timeout_seconds,
                )
        except DeliveryError as exc:
            # Raised again outside the handler: no __context__ holding requests' own text.
            return type(exc)(str(exc), exc.reason, exc.retry_after)

    def send(self, notification: Notification, ledger: RecipientLedger) -> None:
        response = self._post(form_of(notification, self.settings))
        if isinstance(response, DeliveryError):
            raise response
        detail = _error_detail(response) if response.status_code >= 300 else ""
        raise_for_delivery(response, self.target, detail)


SPEC = ChannelSpec(settings=settings_spec.SPEC, build=PushoverChannel)
