"""Apprise channel settings: the service URLs (each one holds its credentials) and a timeout.

Apprise (https://github.com/caronc/apprise) reaches a long tail of services through one
URL scheme each (``tgram://``, ``discord://``, ``json://``, ...). The URLs are secrets:
they stay out of repr and so out of logs, and errors name a URL by its position only.
Whether Apprise knows a scheme is checked by the worker, which has Apprise installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from contract.channels.spec import SettingsSpec
from contract.mapping import MappingReader

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True)
class AppriseSettings:
    urls: tuple[str, ...] = field(repr=False)
    timeout_seconds: float = 10.0


def parse_settings(reader: MappingReader) -> AppriseSettings:
    urls = reader.required("urls", list, [])
    if reader.has("urls") and not urls:
        reader.error("urls", "must list at least one Apprise URL")
    for index, url in enumerate(urls):
        if not isinstance(url, str) or not _SCHEME.match(url):
            # Say what is wrong, never the URL: it holds the service's credentials.
            reader.error(f"urls[{index}]", "must be an Apprise URL (scheme://...)")
    timeout = reader.optional("timeout_seconds", float, 10.0)
    if timeout <= 0:
        reader.error("timeout_seconds", f"must be positive, got {timeout:g}")
    return AppriseSettings(urls=tuple(str(u) for u in urls), timeout_seconds=timeout)


SPEC = SettingsSpec(name="apprise", parse_settings=parse_settings)
