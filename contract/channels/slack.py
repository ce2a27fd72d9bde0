"""Slack channel settings (the webhook URL is the credential) and Slack's mrkdwn escaping."""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.channels.masking import masked_url
from contract.channels.spec import SettingsSpec
from contract.mapping import MappingReader
from contract.throttle import Throttle


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


SPEC = SettingsSpec(
    name="slack",
    parse_settings=parse_settings,
    variants={"slack": slack_escape},
    # Slack accepts about one message a second per incoming webhook.
    default_throttle=Throttle(per_second=1.0, burst=1),
    throttle_scope=lambda settings: settings.webhook_url,
)
