"""What the console needs beyond the API's services: its users and its signing secret."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from contract.ack_links import LinkSigner
from contract.settings import DEFAULT_LINK_TTL, MIN_CONSOLE_SECRET
from klaxon.console.session import SessionCodec
from klaxon.console.users import User

log = logging.getLogger(__name__)


class ConsoleConfigError(ValueError):
    """KLAXON_CONSOLE_SECRET or KLAXON_PUBLIC_URL is unusable; the message says which."""


@dataclass(frozen=True)
class ConsoleConfig:
    """Users, the secret that signs sessions (and ack links), and the public address."""

    users: tuple[User, ...] = ()
    secret: str = field(default="", repr=False)
    # KLAXON_PUBLIC_URL: cookies are Secure when it is https (TLS ends at a proxy).
    public_url: str = ""
    # How long an ack or silence link works (KLAXON_LINK_TTL); the bridge signs with it too.
    link_ttl: float = DEFAULT_LINK_TTL
    codec: SessionCodec = field(init=False, repr=False, compare=False)
    links: LinkSigner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        secret = self.secret
        if not secret:
            # Sessions still work, for this process only; ack links made by the bridge
            # (signed with the configured secret) cannot be checked.
            log.warning(
                "KLAXON_CONSOLE_SECRET is not set: console sessions end when this process "
                "does, and ack links from notifications are refused"
            )
            secret = secrets.token_urlsafe(32)
        elif len(secret) < MIN_CONSOLE_SECRET:
            raise ConsoleConfigError(
                f"KLAXON_CONSOLE_SECRET needs at least {MIN_CONSOLE_SECRET} characters "
                f"(it has {len(secret)}); `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'` makes one"
            )
        secure = self.public_url.startswith("https://")
        object.__setattr__(self, "codec", SessionCodec(secret, secure))
        # Only verifies here (the bridge makes the links), so the address is not needed.
        signer = LinkSigner(self.public_url or "http://localhost", secret, self.link_ttl)
        object.__setattr__(self, "links", signer)
