"""The channels every floor agrees on, by name: settings and escaping, no sending.

Workers pair each with a sender in ``tasks.channels``; the bridge and the config loader
need only this half, so they never load smtplib, requests or twilio.
"""

from __future__ import annotations

from contract.channels import apprise, email, ntfy, pushover, slack, sms, webhook
from contract.channels.spec import SettingsSpec

CHANNELS: dict[str, SettingsSpec] = {
    "apprise": apprise.SPEC,
    "email": email.SPEC,
    "ntfy": ntfy.SPEC,
    "pushover": pushover.SPEC,
    "slack": slack.SPEC,
    "sms": sms.SPEC,
    "webhook": webhook.SPEC,
}

__all__ = ["CHANNELS", "SettingsSpec"]
