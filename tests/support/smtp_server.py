"""A real SMTP server on loopback (aiosmtpd) that records mail and answers as scripted.

Modes: ``plain``; ``starttls`` (STARTTLS required, then AUTH LOGIN/PLAIN); ``tls``
(implicit TLS, AUTH). Failure injection: ``fail_data(reply, times)`` answers the next DATA
commands with ``reply``; ``fail_rcpt(address, reply, times)`` refuses that recipient.
aiosmtpd cannot bind port 0, so a free port is picked first.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Mode = Literal["plain", "starttls", "tls"]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    authenticated_as: str | None


class SmtpServer:
    """Records every accepted message; ``close()`` stops it."""

    def __init__(
        self,
        mode: Mode = "plain",
        tls_context: ssl.SSLContext | None = None,
        user: tuple[str, str] | None = None,
    ) -> None:
        if mode != "plain" and tls_context is None:
            raise ValueError(f"mode {mode!r} needs a server tls_context")
        self.mode = mode
        self.user = user
        self.host = "127.0.0.1"
        self.port = free_port()
        self.mail: list[Mail] = []
        self.data_attempts = 0
        self.auth_failures = 0
        self._lock = threading.Lock()
        self._data_replies: deque[str] = deque()
        self._rcpt_replies: dict[str, deque[str]] = defaultdict(deque)
        kwargs: dict[str, Any] = {"server_hostname": "smtp.test", "ident": "klaxon-test-smtp"}
        if user is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        if mode == "starttls":
            kwargs.update(tls_context=tls_context, require_starttls=True)
        elif mode == "tls":
            # Implicit TLS: encrypted from the first byte, which aiosmtpd's AUTH does not
            # know (it only counts STARTTLS), and it warns when AUTH is required without
            # it. So AUTH is offered, not required: ``Mail.authenticated_as`` shows it.
            kwargs.update(ssl_context=tls_context, auth_require_tls=False, auth_required=False)
        elif user is not None:
            kwargs.update(auth_require_tls=False, auth_required=False)
        self.controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        self.controller.start()

    # -- failure injection -------------------------------------------------------------

    def fail_data(self, reply: str, times: int = 1) -> None:
        """Answer the next ``times`` DATA commands with ``reply``, e.g. "451 4.3.0 later"."""
        with self._lock:
            self._data_replies.extend([reply] * times)

    def fail_rcpt(self, address: str, reply: str, times: int = 1) -> None:
        """Refuse ``address`` at RCPT TO with ``reply`` for the next ``times`` transactions."""
        with self._lock:
            self._rcpt_replies[address].extend([reply] * times)

    # -- what arrived ------------------------------------------------------------------

    def deliveries_to(self, address: str) -> int:
        with self._lock:
            return sum(mail.rcpt_tos.count(address) for mail in self.mail)

    def close(self) -> None:
        self.controller.stop()

    # -- aiosmtpd callbacks -------------------------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self.user is not None:
            login, password = data.login.decode(), data.password.decode()
            if (login, password) == self.user:
                return AuthResult(success=True, auth_data=login)
        with self._lock:
            self.auth_failures += 1
        return AuthResult(success=False, handled=False)

    def _rcpt_reply(self, address: str) -> str | None:
        with self._lock:
            queue = self._rcpt_replies.get(address)
            return queue.popleft() if queue else None

    def _data_reply(self) -> str | None:
        with self._lock:
            self.data_attempts += 1
            return self._data_replies.popleft() if self._data_replies else None

    def _record(self, envelope: Envelope, session: Session) -> None:
        raw = envelope.original_content or b""
        # Stored as a mailbox would: with the SMTP line endings turned into \n.
        parsed = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        user = session.auth_data if session.authenticated else None
        mail = Mail(envelope.mail_from or "", list(envelope.rcpt_tos), parsed, raw, user)
        with self._lock:
            self.mail.append(mail)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = self.server._rcpt_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.server._data_reply()
        if reply is not None:
            return reply
        self.server._record(envelope, session)
        return "250 2.0.0 Message accepted for delivery"
