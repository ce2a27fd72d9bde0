"""Email channel settings: SMTP host, security, credentials and default recipients."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Literal

from contract.channels.spec import SettingsSpec
from contract.mapping import MappingReader

Security = Literal["starttls", "tls", "none"]


_SECURITY: tuple[Security, ...] = ("starttls", "tls", "none")


_DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "tls": 465, "none": 25}


_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


@dataclass(frozen=True)
class EmailSettings:
    smtp_host: str
    from_address: str
    smtp_port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    recipients: tuple[str, ...] = ()
    verify_tls: bool = True
    ca_file: str | None = None
    timeout_seconds: float = 10.0
    subject_prefix: str = ""
    # The name given in EHLO; smtplib's default is this host's FQDN.
    helo_hostname: str | None = None


def _security(reader: MappingReader, port: int | None) -> Security:
    """``security`` if given, else derived from the seed's ``use_tls`` and the port."""
    use_tls = reader.optional("use_tls", bool, None)
    chosen = reader.optional("security", str, "")
    if chosen:
        if chosen not in _SECURITY:
            reader.error("security", f"must be one of {', '.join(_SECURITY)}, got {chosen!r}")
            return "starttls"
        if use_tls is not None and use_tls != (chosen != "none"):
            reader.error("use_tls", f'{use_tls} contradicts security "{chosen}"; drop use_tls')
        return chosen
    if not use_tls:
        return "none"
    return "tls" if port == 465 else "starttls"


def parse_settings(reader: MappingReader) -> EmailSettings:
    port = reader.optional("smtp_port", int, None)
    security = _security(reader, port)
    if port is None:
        port = _DEFAULT_PORTS[security]
    elif not 0 < port < 65536:
        reader.error("smtp_port", f"must be between 1 and 65535, got {port}")
    from_address = reader.required("from_address", str, "")
    if from_address and not _ADDRESS.match(parseaddr(from_address)[1]):
        reader.error("from_address", f"is not an email address: {from_address!r}")
    recipients = reader.optional("recipients", list, [])
    for index, recipient in enumerate(recipients):
        if not isinstance(recipient, str) or not _ADDRESS.match(recipient):
            reader.error(f"recipients[{index}]", f"is not an email address: {recipient!r}")
    username = reader.optional("username", str, "") or None
    password = reader.optional("password", str, "") or None
    if username and not password:
        reader.error("password", "is required when username is set")
    if username and security == "none":
        reader.warn("username", 'AUTH with security "none" sends the password unencrypted')
    timeout = reader.optional("timeout_seconds", float, 10.0)
    if timeout <= 0:
        reader.error("timeout_seconds", f"must be positive, got {timeout:g}")
    return EmailSettings(
        smtp_host=reader.required("smtp_host", str, ""),
        smtp_port=port,
        security=security,
        username=username,
        password=password,
        from_address=from_address,
        recipients=tuple(str(r) for r in recipients),
        verify_tls=reader.optional("verify_tls", bool, True),
        ca_file=reader.optional("ca_file", str, "") or None,
        timeout_seconds=timeout,
        subject_prefix=reader.optional("subject_prefix", str, ""),
        helo_hostname=reader.optional("helo_hostname", str, "") or None,
    )


SPEC = SettingsSpec(
    name="email",
    parse_settings=parse_settings,
    variants={"html": html.escape},
    recipients=lambda settings: settings.recipients,
)
