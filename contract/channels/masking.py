"""URLs shown in errors and logs with their secret parts hidden."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def masked_url(url: str) -> str:
    """The URL with its path and query hidden: webhook URLs are themselves secrets (Slack)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    path = "/…" if parts.path not in ("", "/") else parts.path
    return urlunsplit((parts.scheme, host, path, "", ""))
