"""Which strings are secrets: from the environment, from channel settings, and how each leaks.

A secret rarely leaks only as itself. It is percent-encoded in URLs, base64-encoded inside
``Authorization: Basic`` headers and SMTP ``AUTH PLAIN``, and a webhook URL whose path is
the credential (Slack's ``/services/T…/B…/…``) is logged by urllib3 as its path alone.
``forms_of`` lists those forms, so that redaction works on values, not only on patterns.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

# Shorter values would mask ordinary words and numbers all over the logs.
MIN_SECRET_LENGTH = 6

# Environment variables whose values are secrets, by name.
_SECRET_ENV_NAMES = re.compile(
    r"(PASSWORD|TOKEN|SECRET|AUTH|SID|WEBHOOK_URL|API_KEY)", re.IGNORECASE
)
# Header names (in a secret mapping such as webhook ``headers``) whose values are secrets;
# the others (Content-Type, User-Agent) are ordinary text that must stay readable.
_SECRET_HEADER_NAMES = re.compile(
    r"(auth|token|secret|key|signature|cookie|password|session|credential)", re.IGNORECASE
)


def env_secrets(env: Mapping[str, str]) -> set[str]:
    """Values of environment variables named like secrets (``SMTP_PASSWORD``, ...)."""
    return {value for name, value in env.items() if _SECRET_ENV_NAMES.search(name)}


def settings_secrets(settings: object) -> set[str]:
    """Secret values of one channel's parsed settings.

    Channel settings mark their secret fields with ``field(repr=False)`` (passwords, tokens,
    webhook URLs, headers, basic-auth pairs, signing secrets); those are read here, so a
    channel added later is covered by the same mark.
    """
    if not dataclasses.is_dataclass(settings) or isinstance(settings, type):
        return set()
    found: set[str] = set()
    for spec in dataclasses.fields(settings):
        if not spec.repr:
            _collect(getattr(settings, spec.name), found)
    return found


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if _SECRET_HEADER_NAMES.search(str(key)):
                _collect(item, found)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _collect(item, found)


def forms_of(secret: str) -> set[str]:
    """The secret and each form it can take in a log line; empty if it is too short."""
    if len(secret) < MIN_SECRET_LENGTH:
        return set()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    forms |= base64_cores(secret)
    if "://" in secret:
        forms |= _url_parts(secret)
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def base64_cores(secret: str) -> set[str]:
    """The base64 text that encodes ``secret`` wherever it sits inside a longer value.

    base64 works on 3-byte groups, so the secret is encoded one of three ways depending on
    its offset (``sid:token``, ``\\0user\\0password``). For each offset, the characters whose
    6 bits come only from the secret's bytes appear in any such encoding.
    """
    raw = secret.encode()
    cores: set[str] = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        start = -(-8 * shift // 6)  # the first character with no bit of the padding
        end = 8 * (shift + len(raw)) // 6  # past the last character filled by the secret
        core = encoded[start:end]
        cores.add(core)
        cores.add(core.replace("+", "-").replace("/", "_"))  # URL-safe base64
    return cores


def _url_parts(url: str) -> set[str]:
    """A secret URL's path, query and credentials, and its path segments that look like keys."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return set()
    found: set[str] = set()
    if parts.path not in ("", "/"):
        found.add(parts.path)
        if parts.query:
            found.add(f"{parts.path}?{parts.query}")
        found.update(segment for segment in parts.path.split("/") if _looks_like_key(segment))
    if parts.query:
        found.add(parts.query)
        found.update(value for _, value in parse_qsl(parts.query) if _looks_like_key(value))
    if password:
        found.add(password)
    return found


def _looks_like_key(text: str) -> bool:
    """A random-looking token (``B07ABC123``, a 24-letter key), not a word like ``services``."""
    if len(text) >= 16:
        return True
    has_digit = any(c.isdigit() for c in text)
    has_letter = any(c.isalpha() for c in text)
    return len(text) >= 8 and has_digit and has_letter


def all_forms(secrets: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for secret in secrets:
        found |= forms_of(secret)
    return found
