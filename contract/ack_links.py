"""Signed, expiring one-click links that ack an alert or open a silence form for it.

The bridge (and the sweep, for reminders) signs a link per alert into each notification
(``rules.compose``); the web console verifies it when someone follows it, and claims it
once in Redis so that a link works a single time. Nothing is stored when a link is made:
the token itself says which alert, which action and when, and its signature (HMAC with
``KLAXON_CONSOLE_SECRET``, via itsdangerous) says that Klaxon wrote it.

A token is ``<alert>.<timestamp>.<signature>``, all base64url, kept short because an SMS
carries it: a uuid alert id is its 16 bytes (22 characters), another id is ``~`` and its
UTF-8 text. Each action signs with its own salt, so an ack token is not a silence token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import redis
from itsdangerous import BadSignature, TimestampSigner

from contract.settings import DEFAULT_LINK_TTL, Settings

DEFAULT_TTL = DEFAULT_LINK_TTL  # KLAXON_LINK_TTL unset

# Where each action's link points under KLAXON_PUBLIC_URL (the console serves them).
_PATHS = {"ack": "ack", "silence": "silence-link"}
# Marks an alert id that is not a uuid: its UTF-8 text follows, base64url.
_TEXT_ID = "~"
# The bridge or the sweep may run on a host whose clock is a little ahead of the API's:
# a link followed at once is not "from the future".
_CLOCK_SKEW = 60.0
# A real token is under 100 characters; anything far longer is not worth checking.
_MAX_TOKEN = 1024
_USED_PREFIX = "klaxon:links:used:"
# The token of a link in any text: what follows /ack/ or /silence-link/ up to the first
# character a token never holds (base64url, "." and "~" only).
_LINK_TOKEN = re.compile(
    "(/(?:" + "|".join(re.escape(path) for path in _PATHS.values()) + ")/)[A-Za-z0-9_.~-]+"
)
_MASK = "…"


class LinkAction(StrEnum):
    """What a link does: ack the alert, or open a silence form pre-filled for it."""

    ACK = "ack"
    SILENCE = "silence"


class LinkError(ValueError):
    """A link that cannot be used; ``reason`` is "expired" or "invalid"."""

    def __init__(self, reason: Literal["expired", "invalid"], message: str) -> None:
        super().__init__(message)
        self.reason = reason


class LinkSetupError(ValueError):
    """The environment asks for links that nothing could verify (no console secret)."""


@dataclass(frozen=True)
class LinkClaim:
    """What a verified token says: this action on this alert, signed at ``issued_at``."""

    action: LinkAction
    alert_id: str
    issued_at: float
    token: str


class _ClockedSigner(TimestampSigner):
    """A TimestampSigner that stamps with the injected clock (LinkSigner.verify judges the
    age on the same clock)."""

    def __init__(self, secret: str, salt: str, clock: Callable[[], float]) -> None:
        # HMAC-SHA1, itsdangerous' default: a 27-character signature, and HMAC does not
        # rest on SHA-1's collision resistance. SHA-256 would add 16 characters to an SMS.
        super().__init__(secret, salt=salt)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


class LinkSigner:
    """Makes and checks the links of one deployment (one public URL, one secret)."""

    def __init__(
        self,
        public_url: str,
        secret: str,
        ttl_seconds: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise LinkSetupError("a link signer needs a secret (KLAXON_CONSOLE_SECRET)")
        self.public_url = public_url.rstrip("/")
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._signers = {
            action: _ClockedSigner(secret, f"klaxon.link.{action.value}", clock)
            for action in LinkAction
        }

    def __repr__(self) -> str:  # never the secret
        return f"LinkSigner({self.public_url!r}, ttl_seconds={self.ttl_seconds:g})"

    def token(self, alert_id: str, action: LinkAction) -> str:
        return self._signers[action].sign(_encode_id(alert_id)).decode("ascii")

    def url(self, alert_id: str, action: LinkAction) -> str:
        return f"{self.public_url}/{_PATHS[action.value]}/{self.token(alert_id, action)}"

    def ack_url(self, alert_id: str) -> str:
        return self.url(alert_id, LinkAction.ACK)

    def silence_url(self, alert_id: str) -> str:
        return self.url(alert_id, LinkAction.SILENCE)

    def verify(self, token: str, action: LinkAction) -> LinkClaim:
        """The claim of a token signed for ``action``; LinkError if it is not, or expired."""
        if not token or len(token) > _MAX_TOKEN or not token.isascii():
            raise _invalid()
        try:
            value, signed_at = self._signers[action].unsign(token, return_timestamp=True)
        except BadSignature as exc:
            raise _invalid() from exc
        issued_at = signed_at.timestamp()
        age = self._clock() - issued_at
        if age < -_CLOCK_SKEW:
            # Signed well "in the future": not a link this deployment made lately.
            raise _invalid()
        if age > self.ttl_seconds:
            hours = self.ttl_seconds / 3600
            raise LinkError(
                "expired",
                f"This link has expired: links work for {hours:g} hour(s) after the "
                "notification was sent. Open the alert in the console instead.",
            )
        alert_id = _decode_id(value.decode("ascii"))
        if alert_id is None:  # signed by us but not a token we make: a secret reused
            raise _invalid()
        return LinkClaim(action, alert_id, issued_at, token)


def _invalid() -> LinkError:
    return LinkError(
        "invalid",
        "This link is not valid: it may have been cut short or changed, or it is for "
        "another action. Open the alert in the console instead.",
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode_id(alert_id: str) -> str:
    try:
        parsed = uuid.UUID(alert_id)
    except ValueError:
        parsed = None
    # Only the canonical spelling is packed: the id must come back exactly as given.
    if parsed is not None and str(parsed) == alert_id:
        return _b64(parsed.bytes)
    return _TEXT_ID + _b64(alert_id.encode("utf-8"))


def _decode_id(text: str) -> str | None:
    try:
        if text.startswith(_TEXT_ID):
            return _unb64(text[len(_TEXT_ID) :]).decode("utf-8")
        raw = _unb64(text)
    except (binascii.Error, ValueError):
        return None
    return str(uuid.UUID(bytes=raw)) if len(raw) == 16 else None


def mask_links(text: str) -> str:
    """``text`` with the token of each ack and silence link replaced by "…".

    For showing a notification to someone who may not follow its links (a dead letter
    in the API or the console): the rest of the URL stays readable, so one still sees
    that a link was there and where it pointed.
    """
    return _LINK_TOKEN.sub(lambda match: match.group(1) + _MASK, text)


def mask_links_in(value: object) -> object:
    """``value`` (decoded JSON: dicts, lists, scalars) with ``mask_links`` applied to
    every string in it, keys included."""
    if isinstance(value, str):
        return mask_links(value)
    if isinstance(value, dict):
        return {mask_links_in(key): mask_links_in(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_links_in(item) for item in value]
    return value


def used_key(token: str) -> str:
    """The Redis key that marks ``token`` used: a digest, so Redis never holds a link."""
    return _USED_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


def claim_once(client: redis.Redis, claim: LinkClaim, ttl_seconds: float) -> bool:
    """True the first time ``claim``'s token is claimed; False every time after.

    ``ttl_seconds`` is the signer's: a link verifies until ``issued_at + ttl_seconds``,
    and ``issued_at`` may be up to the clock skew ahead of now. The mark is kept for
    ``ttl_seconds`` plus that skew, so it outlives every moment ``verify`` would still
    accept the token, and a used link is never accepted again.
    """
    ex = _seconds(ttl_seconds + _CLOCK_SKEW)
    marked = client.set(used_key(claim.token), claim.alert_id, nx=True, ex=ex)
    return bool(marked)


def _seconds(ttl: float) -> int:
    return max(1, math.ceil(ttl))


def signer_from(settings: Settings, clock: Callable[[], float] = time.time) -> LinkSigner | None:
    """The deployment's signer; None when KLAXON_PUBLIC_URL is unset (no links).

    ``clock``: the bridge's (``klaxon rules test`` runs on a simulated one). Raises
    LinkSetupError when KLAXON_PUBLIC_URL is set without KLAXON_CONSOLE_SECRET: links
    that nothing can verify are worse than none.
    """
    if not settings.public_url:
        return None
    if not settings.console_secret:
        raise LinkSetupError(
            "KLAXON_PUBLIC_URL is set but KLAXON_CONSOLE_SECRET is not: ack and silence "
            "links would be signed with nothing the console can verify. Set "
            "KLAXON_CONSOLE_SECRET (at least 32 characters, the same for the bridge, the "
            "workers and the API), or unset KLAXON_PUBLIC_URL to send no links."
        )
    return LinkSigner(settings.public_url, settings.console_secret, settings.link_ttl, clock)
