"""Pushover channel settings: the application token, the user (or group) key, priority.

Priority 2 (emergency) repeats the notification every ``retry`` seconds (at least 30)
until it is acknowledged or ``expire`` seconds (at most 10,800) have passed; Pushover
requires both for it. Both keys are credentials and stay out of repr (and so out of logs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from contract.channels.masking import masked_url
from contract.channels.spec import SettingsSpec
from contract.mapping import MappingReader

API_URL = "https://api.pushover.net"
# Pushover's limits: message 1,024 characters, title 250, keys 30 characters [A-Za-z0-9].
MAX_MESSAGE = 1024
MAX_TITLE = 250
EMERGENCY = 2
MIN_RETRY_SECONDS = 30
MAX_EXPIRE_SECONDS = 10800

_KEY = re.compile(r"^[A-Za-z0-9]{30}$")


@dataclass(frozen=True)
class PushoverSettings:
    app_token: str = field(repr=False)
    user_key: str = field(repr=False)
    # -2..2; None: derived from the rule's priority (tasks.channels.pushover), never 2.
    priority: int | None = None
    retry_seconds: int | None = None
    expire_seconds: int | None = None
    device: str | None = None
    sound: str | None = None
    api_url: str = API_URL
    timeout_seconds: float = 10.0


def _key(reader: MappingReader, name: str) -> str:
    value = reader.required(name, str, "")
    if value and not _KEY.match(value):
        # The value is a secret: say what is wrong with it, never what it is.
        reader.error(name, f"must be 30 letters and digits, got {len(value)} characters")
    return value


def parse_settings(reader: MappingReader) -> PushoverSettings:
    priority = reader.optional("priority", int, None)
    if priority is not None and not -2 <= priority <= 2:
        reader.error("priority", f"must be between -2 and 2, got {priority}")
    retry = reader.optional("retry_seconds", int, None)
    expire = reader.optional("expire_seconds", int, None)
    if priority == EMERGENCY:
        if retry is None:
            reader.error("retry_seconds", "is required with priority 2 (emergency)")
        if expire is None:
            reader.error("expire_seconds", "is required with priority 2 (emergency)")
    elif retry is not None or expire is not None:
        reader.error(
            "priority", "must be 2 (emergency) when retry_seconds or expire_seconds is set"
        )
    if retry is not None and retry < MIN_RETRY_SECONDS:
        reader.error("retry_seconds", f"must be at least {MIN_RETRY_SECONDS}, got {retry}")
    if expire is not None and not 0 < expire <= MAX_EXPIRE_SECONDS:
        reader.error("expire_seconds", f"must be 1 to {MAX_EXPIRE_SECONDS}, got {expire}")
    api_url = reader.optional("api_url", str, API_URL).rstrip("/")
    if not api_url.startswith(("https://", "http://")):
        reader.error("api_url", f"must start with https:// or http://, got {masked_url(api_url)!r}")
    timeout = reader.optional("timeout_seconds", float, 10.0)
    if timeout <= 0:
        reader.error("timeout_seconds", f"must be positive, got {timeout:g}")
    return PushoverSettings(
        app_token=_key(reader, "app_token"),
        user_key=_key(reader, "user_key"),
        priority=priority,
        retry_seconds=retry,
        expire_seconds=expire,
        device=reader.optional("device", str, "") or None,
        sound=reader.optional("sound", str, "") or None,
        api_url=api_url,
        timeout_seconds=timeout,
    )


SPEC = SettingsSpec(name="pushover", parse_settings=parse_settings)
