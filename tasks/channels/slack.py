"""Slack incoming webhook: a JSON POST with a plain-text fallback and Block Kit blocks.

The webhook URL's path is the credential, so errors name the target by its masked URL and
do not chain the transport exception (whose text holds the full URL). Slack answers
errors with a short code in the body (``invalid_payload``, ``invalid_token``,
``channel_not_found``, ``channel_is_archived``), which the error message repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import requests

from klaxon.mapping import MappingReader
from tasks.channels.base import ChannelSpec, RecipientLedger
from tasks.channels.errors import DeliveryError
from tasks.channels.http import masked_url, raise_for_delivery, transport_errors
from tasks.notification import Notification

_PRIORITY_EMOJI = {
    "critical": ":rotating_light:",
    "high": ":red_circle:",
    "medium": ":large_orange_circle:",
    "low": ":large_blue_circle:",
    "info": ":information_source:",
}
# Block Kit limits: header text 150 characters, section text 3,000, a field 2,000.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELD_MAX = 2000
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


@dataclass(frozen=True)
class SlackSettings:
    webhook_url: str = field(repr=False)  # its path is the credential
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    timeout_seconds: float = 10.0


def parse_settings(reader: MappingReader) -> SlackSettings:
    url = reader.required("webhook_url", str, "")
    if url and not url.startswith(("https://", "http://")):
        reader.error("webhook_url", f"must start with https://, got {masked_url(url)!r}")
    timeout = reader.optional("timeout_seconds", float, 10.0)
    if timeout <= 0:
        reader.error("timeout_seconds", f"must be positive, got {timeout:g}")
    return SlackSettings(
        webhook_url=url,
        channel=reader.optional("channel", str, "") or None,
        username=reader.optional("username", str, "") or None,
        icon_emoji=reader.optional("icon_emoji", str, "") or None,
        timeout_seconds=timeout,
    )


def slack_escape(text: str) -> str:
    """Slack's mrkdwn escaping: only &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return _PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"


def _event_value(event: dict[str, Any], path: str) -> str | None:
    value: Any = event
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if value is None or value == "":
        return None
    return str(value)


def payload_of(notification: Notification, settings: SlackSettings) -> dict[str, Any]:
    """The webhook body: ``text`` is the notification fallback, ``blocks`` the rich layout."""
    text = notification.variants.get("slack") or slack_escape(notification.message)
    emoji = _PRIORITY_EMOJI.get(notification.priority.lower(), ":bell:")
    header = f"{emoji} {notification.priority.upper()}: {notification.rule_name}"
    fields = [f"*Rule*\n{slack_escape(notification.rule_name)}"]
    for label, path in (("Camera", "camera_id"), ("Plate", "plate.normalized_text")):
        value = _event_value(notification.event, path)
        if value is not None:
            fields.append(f"*{label}*\n{_cut(slack_escape(value), _FIELD_MAX)}")
    context = f"{notification.matched_at} · {notification.source.identity}"
    body: dict[str, Any] = {
        "text": text,
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _cut(header, _HEADER_MAX), "emoji": True},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _SECTION_MAX)}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(context)}]},
        ],
    }
    if settings.channel:
        body["channel"] = settings.channel
    if settings.username:
        body["username"] = settings.username
    if settings.icon_emoji:
        body["icon_emoji"] = settings.icon_emoji
    return body


class SlackChannel:
    def __init__(self, settings: SlackSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.target = f"slack {masked_url(settings.webhook_url)}"

    def _post(self, body: dict[str, Any]) -> requests.Response | DeliveryError:
        try:
            with transport_errors(self.target):
                return self.session.post(
                    self.settings.webhook_url, json=body, timeout=self.settings.timeout_seconds
                )
        except DeliveryError as exc:
            # requests' own message names the full webhook URL, a secret: hand back a copy
            # raised outside this handler, so neither __cause__ nor __context__ carries it.
            return type(exc)(str(exc), exc.reason, exc.retry_after)

    def send(self, notification: Notification, ledger: RecipientLedger) -> None:
        response = self._post(payload_of(notification, self.settings))
        if isinstance(response, DeliveryError):
            raise response
        detail = " ".join(response.text.split())[:200] if response.status_code >= 300 else ""
        raise_for_delivery(response, self.target, detail)


SPEC = ChannelSpec(
    name="slack",
    parse_settings=parse_settings,
    build=SlackChannel,
    variants={"slack": slack_escape},
)
