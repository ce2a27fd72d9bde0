"""Reading a channel's ``throttle`` and ``fallback``, and the push channels' settings:
every mistake is reported with the file and the field, and good values load as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.throttle import OFF, ChannelThrottle, Throttle
from rules.config import check_config
from tests.support import yamlfile

SLACK = {"webhook_url": "https://hooks.slack.com/services/T0/B0/x"}
SMS = {
    "twilio_account_sid": "AC" + "0" * 32,
    "twilio_auth_token": "token",
    "from_number": "+15551234567",
    "to_numbers": ["+15550000001"],
}
EMAIL = {"smtp_host": "127.0.0.1", "from_address": "k@example.com", "recipients": ["a@b.co"]}
KEY = "a" * 30


def check(tmp_path: Path, notifications: dict[str, Any]) -> tuple[Any, list[str]]:
    path = tmp_path / "rules.yaml"
    path.write_text(yamlfile.dump({"notifications": notifications, "rules": []}))
    config, problems = check_config(path, env={})
    # Sorted: YAML writes the channels in key order. The file has no rules on purpose.
    return config, sorted(
        f"{p.field}: {p.message}" for p in problems if p.field.startswith("notifications")
    )


def test_defaults_explicit_limits_per_recipient_limits_and_off_load_as_written(
    tmp_path: Path,
) -> None:
    """No throttle: the provider's default; a mapping: as written; off: none at all."""
    sms = {
        **SMS,
        "throttle": {
            "per_second": 0.5,
            "burst": 3,
            "recipients": {"+15550000001": {"per_second": 0.1}},
        },
    }
    config, problems = check(
        tmp_path, {"slack": SLACK, "sms": sms, "email": {**EMAIL, "throttle": "off"}}
    )
    assert problems == []
    assert config.channels["slack"].throttle == ChannelThrottle(Throttle(1.0, 1))
    assert config.channels["sms"].throttle == ChannelThrottle(
        Throttle(0.5, 3), {"+15550000001": Throttle(0.1, 1)}
    )
    assert config.channels["email"].throttle == OFF
    assert config.channels["email"].fallback is None


def test_bad_throttles_are_reported_by_field(tmp_path: Path) -> None:
    """A rate that is not positive, a burst under 1, a typo, limits per recipient on Slack."""
    _, problems = check(
        tmp_path,
        {
            "slack": {**SLACK, "throttle": {"per_second": 0, "burts": 2, "recipients": {}}},
            "sms": {**SMS, "throttle": {"per_second": 1, "burst": 0}},
            "email": {**EMAIL, "throttle": "sometimes"},
        },
    )
    assert problems == sorted(
        [
            "notifications.slack.throttle.per_second: must be positive, got 0",
            'notifications.slack.throttle.burts: unknown key (did you mean "burst"?)',
            "notifications.sms.throttle.burst: must be 1 or more, got 0",
            "notifications.email.throttle: expected a mapping (per_second, burst) or off, "
            "got 'sometimes'",
        ]
    )
    _, problems = check(
        tmp_path, {"slack": {**SLACK, "throttle": {"recipients": {"#ops": {"per_second": 1}}}}}
    )
    assert problems == sorted(
        [
            "notifications.slack.throttle.recipients: this channel has no recipients to limit "
            "one by one"
        ]
    )


def test_a_fallback_names_another_enabled_channel(tmp_path: Path) -> None:
    """Itself, an unknown channel and a disabled one are errors; another channel loads."""
    config, problems = check(tmp_path, {"sms": {**SMS, "fallback": "email"}, "email": EMAIL})
    assert problems == []
    assert config.channels["sms"].fallback == "email"

    _, problems = check(
        tmp_path,
        {
            "sms": {**SMS, "fallback": "sms"},
            "slack": {**SLACK, "fallback": "emial"},
            "email": {**EMAIL, "fallback": "webhook"},
            "webhook": {"url": "http://127.0.0.1:1/", "enabled": False},
        },
    )
    assert problems == sorted(
        [
            "notifications.sms.fallback: cannot be the channel itself",
            'notifications.slack.fallback: unknown channel "emial" (did you mean "email"?)',
            'notifications.email.fallback: names channel "webhook", which is disabled',
        ]
    )


def test_push_channel_settings_are_checked_without_showing_keys(tmp_path: Path) -> None:
    """ntfy topic and priority, Pushover key shape and emergency retry/expire; no key shown."""
    secret = "not-a-pushover-key-" + "x" * 5
    _, problems = check(
        tmp_path,
        {
            "ntfy": {"topic": "bad topic!", "priority": "loud", "server_url": "ftp://x"},
            "pushover": {"app_token": secret, "user_key": KEY, "priority": 2, "retry_seconds": 5},
        },
    )
    assert problems == sorted(
        [
            "notifications.ntfy.server_url: must start with https:// or http://, got 'ftp://x'",
            "notifications.ntfy.topic: must be 1-64 letters, digits, _ or -, got 'bad topic!'",
            "notifications.ntfy.priority: must be 1 to 5 or one of min, low, default, high, "
            "urgent, max, got 'loud'",
            "notifications.pushover.expire_seconds: is required with priority 2 (emergency)",
            "notifications.pushover.retry_seconds: must be at least 30, got 5",
            "notifications.pushover.app_token: must be 30 letters and digits, got 24 characters",
        ]
    )
    assert not any(secret in p for p in problems)
    config, problems = check(
        tmp_path,
        {
            "ntfy": {"topic": "reef", "priority": "urgent", "tags": ["fish"]},
            "pushover": {"app_token": KEY, "user_key": KEY, "priority": 1},
        },
    )
    assert problems == []
    assert config.channels["ntfy"].settings.priority == 5
    assert config.channels["ntfy"].settings.server_url == "https://ntfy.sh"
    assert config.channels["pushover"].settings.priority == 1
