"""The inbox's SMTP server: plain SMTP on loopback, no AUTH, every message accepted.

aiosmtpd cannot bind port 0, so the caller picks a free port first.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from klaxon.devstack.inbox import Delivery, Inbox
from klaxon.devstack.ports import HOST


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    content: Any = body.get_content()
    return str(content).replace("\r\n", "\n")


class _Handler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        text = plain_text(message)
        rule = str(message.get("X-Klaxon-Rule", "") or "?")
        if rule != "?":
            self.inbox.learn_rule(text, rule)
        self.inbox.add(
            Delivery(
                channel="email",
                rule=rule,
                recipient=", ".join(envelope.rcpt_tos),
                message=text,
                detail={
                    "subject": str(message.get("Subject", "")),
                    "from": str(message.get("From", "")),
                    "message_id": str(message.get("Message-ID", "")),
                },
            )
        )
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, inbox: Inbox, port: int) -> None:
        self.port = port
        self.controller = Controller(
            _Handler(inbox),
            hostname=HOST,
            port=port,
            server_hostname="klaxon-dev-inbox",
            ident="klaxon dev inbox",
        )

    def start(self) -> None:
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
