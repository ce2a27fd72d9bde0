"""Slack incoming webhook: a JSON POST with a plain-text fallback and Block Kit blocks.

The webhook URL's path is the credential, so errors name the target by its masked URL and
do not chain the transport exception (whose text holds the full URL). Slack answers
errors with a short code in the body (``invalid_payload``, ``invalid_token``,
``channel_not_found``, ``channel_is_archived``), which the error message repeats.
"""

from __future__ import annotations

import re

import requests

from contract.channels import slack as settings_spec
from contract.channels.masking import masked_url
from contract.channels.slack import SlackSettings, slack_escape
from contract.jsonsafe import Json, JsonObject
from contract.notification import Notification
from tasks.channels.base import ChannelSpec, RecipientLedger
from tasks.channels.errors import DeliveryError
from tasks.channels.http import raise_for_delivery, transport_errors

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
# A button's url is at most 3,000 characters; a link that long is left out, not cut.
_URL_MAX = 3000
# The one-click links of an alert (contract.ack_links), as Block Kit link buttons.
_LINK_BUTTONS = (
    ("ack", "Acknowledge", "klaxon_ack", "primary"),
    ("silence", "Silence 1h", "klaxon_silence", None),
)
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return _PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"


def _event_value(event: JsonObject, path: str) -> str | None:
    value: Json = event
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if value is None or value == "":
        return None
    return str(value)


def link_buttons(links: dict[str, str]) -> JsonObject | None:
    """An ``actions`` block with the notification's link buttons, or None without links.

    Link buttons open their URL in the browser: Slack needs no app or interactivity for
    them, so they work from an incoming webhook.
    """
    elements: list[Json] = []
    for key, label, action_id, style in _LINK_BUTTONS:
        url = links.get(key)
        if not url or len(url) > _URL_MAX:
            continue
        button: JsonObject = {
            "type": "button",
            "text": {"type": "plain_text", "text": label},
            "url": url,
            "action_id": action_id,
        }
        if style is not None:
            button["style"] = style
        elements.append(button)
    if not elements:
        return None
    return {"type": "actions", "block_id": "klaxon_links", "elements": elements}


def payload_of(notification: Notification, settings: SlackSettings) -> JsonObject:
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
    blocks: list[Json] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(header, _HEADER_MAX), "emoji": True},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _SECTION_MAX)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    buttons = link_buttons(notification.links)
    if buttons is not None:
        blocks.append(buttons)
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(context)}]}
    )
    body: JsonObject = {"text": text, "blocks": blocks}
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

    def _post(self, body: JsonObject) -> requests.Response | DeliveryError:
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


SPEC = ChannelSpec(settings=settings_spec.SPEC, build=SlackChannel)
