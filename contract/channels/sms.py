"""SMS (Twilio) channel settings: account, sender, default numbers and the body limit."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from contract.channels.spec import SettingsSpec
from contract.mapping import MappingReader
from contract.throttle import Throttle

MAX_BODY = 1600


_E164 = re.compile(r"^\+[1-9]\d{1,14}$")

# The GSM 03.38 basic alphabet and its extension (each extension character takes two
# septets). A body outside it is sent as UCS-2.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def segments(body: str) -> int:
    """How many SMS segments a body takes: 160 GSM-7 septets (153 when split) or 70 UCS-2
    characters (67 when split). Twilio's long codes send about one segment a second."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in body):
        length = sum(2 if c in _GSM_EXTENDED else 1 for c in body)
        single, part = 160, 153
    else:
        # UTF-16 code units: a character outside the BMP (an emoji) takes two.
        length = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if length <= single else -(-length // part)


def sms_body(message: str, ack_url: str = "") -> str:
    """The text sent: the message cut to Twilio's 1,600 characters (an ellipsis when cut).

    ``ack_url`` (the alert's one-click ack link, contract.ack_links) goes at the end as
    `` Ack: <url>``, unless the template already put it in the message (``{ack_url}``):
    one link, not the same one twice. When the whole does not fit, the message is cut,
    never the added link: a cut link acks nothing (so a message too long to send whole
    gets the suffix even when its own copy of the link is about to be cut off).
    """
    if ack_url and ack_url in message and len(message) <= MAX_BODY:
        return message
    suffix = f" Ack: {ack_url}" if ack_url else ""
    room = MAX_BODY - len(suffix)
    if room <= 1:  # a link this long leaves no room for the text: send the message alone
        suffix, room = "", MAX_BODY
    if len(message) > room:
        message = message[: room - 1] + "…"
    return message + suffix


@dataclass(frozen=True)
class SmsSettings:
    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    to_numbers: tuple[str, ...] = ()
    api_base_url: str | None = None
    timeout_seconds: float = 10.0


def parse_settings(reader: MappingReader) -> SmsSettings:
    from_number = reader.optional("from_number", str, "") or None
    service = reader.optional("messaging_service_sid", str, "") or None
    if not from_number and not service:
        reader.error("from_number", "is required unless messaging_service_sid is set")
    to_numbers = reader.optional("to_numbers", list, [])
    for index, number in enumerate(to_numbers):
        if not isinstance(number, str) or not _E164.match(number):
            reader.error(
                f"to_numbers[{index}]", f"is not an E.164 number (+15551234567): {number!r}"
            )
    base_url = reader.optional("api_base_url", str, "") or None
    if base_url and not base_url.startswith(("https://", "http://")):
        reader.error("api_base_url", f"must start with https:// or http://, got {base_url!r}")
    timeout = reader.optional("timeout_seconds", float, 10.0)
    if timeout <= 0:
        reader.error("timeout_seconds", f"must be positive, got {timeout:g}")
    return SmsSettings(
        account_sid=reader.required("twilio_account_sid", str, ""),
        auth_token=reader.required("twilio_auth_token", str, ""),
        from_number=from_number,
        messaging_service_sid=service,
        to_numbers=tuple(str(n) for n in to_numbers),
        api_base_url=base_url,
        timeout_seconds=timeout,
    )


SPEC = SettingsSpec(
    name="sms",
    parse_settings=parse_settings,
    recipients=lambda settings: settings.to_numbers,
    # A Twilio US long code sends about one segment a second; Twilio queues the rest.
    default_throttle=Throttle(per_second=1.0, burst=1),
    throttle_scope=lambda settings: settings.from_number or settings.messaging_service_sid,
    units=lambda notification: segments(
        sms_body(notification.message, notification.links.get("ack", ""))
    ),
)
