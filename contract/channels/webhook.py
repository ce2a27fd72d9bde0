"""Webhook channel settings: URL, method, headers, auth and the signing secret."""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.channels.masking import masked_url
from contract.channels.spec import SettingsSpec
from contract.mapping import MappingReader

_METHODS = ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class WebhookSettings:
    # The URL and headers can hold secrets (``?token=``, ``Authorization``): kept out of repr.
    url: str = field(repr=False)
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    timeout_seconds: float = 10.0
    verify_tls: bool = True
    ca_file: str | None = None
    signing_secret: str | None = field(default=None, repr=False)


def parse_settings(reader: MappingReader) -> WebhookSettings:
    url = reader.required("url", str, "")
    if url and not url.startswith(("http://", "https://")):
        reader.error("url", f"must start with http:// or https://, got {masked_url(url)!r}")
    method = reader.optional("method", str, "POST").upper()
    if method not in _METHODS:
        reader.error("method", f"must be one of {', '.join(_METHODS)}, got {method!r}")
    headers_raw = reader.optional("headers", dict, {})
    headers: dict[str, str] = {}
    for name, value in headers_raw.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            reader.error(f"headers.{name}", f"expected a string, got {type(value).__name__}")
            continue
        headers[str(name)] = str(value)
    auth = reader.optional("auth", dict, {})
    bearer: str | None = None
    basic: tuple[str, str] | None = None
    if auth:
        auth_reader = MappingReader(auth, reader.field_path("auth"), reader.sink)
        kind = auth_reader.required("type", str, "")
        if kind == "bearer":
            bearer = auth_reader.required("token", str, "")
        elif kind == "basic":
            basic = (
                auth_reader.required("username", str, ""),
                auth_reader.required("password", str, ""),
            )
        elif kind:
            auth_reader.error("type", f'must be "bearer" or "basic", got {kind!r}')
        auth_reader.finish()
    timeout = reader.optional("timeout_seconds", float, 10.0)
    if timeout <= 0:
        reader.error("timeout_seconds", f"must be positive, got {timeout}")
    return WebhookSettings(
        url=url,
        method=method,
        headers=headers,
        bearer_token=bearer,
        basic_auth=basic,
        timeout_seconds=timeout,
        verify_tls=reader.optional("verify_tls", bool, True),
        ca_file=reader.optional("ca_file", str, None),
        signing_secret=reader.optional("signing_secret", str, None) or None,
    )


SPEC = SettingsSpec(name="webhook", parse_settings=parse_settings)
