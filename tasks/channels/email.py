"""Email over SMTP (smtplib): STARTTLS, implicit TLS or plain, AUTH when a username is set.

One SMTP transaction per send carries the notification to every recipient not yet in the
ledger. The server may accept some recipients and refuse others: accepted ones are marked
at once, so a retry goes only to those refused with a 4xx; a 5xx refusal is permanent.

SMTP replies map to errors by their first digit: 4xx transient (421 and 452, the codes
mail services use for throttling, as ``rate_limited``), 5xx permanent (530/534/535/538 as
``auth``). The password never appears in an error message.
"""

from __future__ import annotations

import html
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from contract.channels import email as settings_spec
from contract.channels.email import EmailSettings
from contract.notification import Notification
from tasks.channels.base import ChannelSpec, RecipientLedger
from tasks.channels.errors import DeliveryError, PermanentError, Reason, TransientError

_THROTTLING = {421, 452}
_AUTH_CODES = {530, 534, 535, 538}
_HTML_PAGE = (
    "<html><body>"
    '<pre style="font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap">'
    "{body}</pre>{links}</body></html>"
)
# The one-click links of an alert (contract.ack_links), in this order.
_LINK_LABELS = (("ack", "Acknowledge"), ("silence", "Silence 1h"))
_HTML_LINK = '<a href="{url}">{label}</a>'


def _links_text(links: Mapping[str, str], message: str) -> str:
    """The plain part's links, one a line after a blank line; empty without links.

    A link the template already put in ``message`` ({ack_url}, {silence_url}) is not
    repeated: the reader sees each URL once. (The HTML part keeps its labelled links:
    they show no URL, and a button is easier to hit than a URL in the text.)
    """
    lines = [
        f"{label}: {links[key]}"
        for key, label in _LINK_LABELS
        if links.get(key) and links[key] not in message
    ]
    return "\n\n" + "\n".join(lines) if lines else ""


def _links_html(links: Mapping[str, str]) -> str:
    anchors = [
        _HTML_LINK.format(url=html.escape(links[key], quote=True), label=label)
        for key, label in _LINK_LABELS
        if links.get(key)
    ]
    return f"<p>{' &middot; '.join(anchors)}</p>" if anchors else ""


def build_message(
    settings: EmailSettings, notification: Notification, recipients: Sequence[str], date: float
) -> EmailMessage:
    """The email for ``notification``: the same Message-ID on every retry."""
    domain = parseaddr(settings.from_address)[1].rpartition("@")[2] or "klaxon.invalid"
    subject = " ".join((notification.subject or notification.rule_name).split())
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"{settings.subject_prefix}{subject}"
    message["Date"] = formatdate(date, usegmt=True)
    message["Message-ID"] = f"<{notification.id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Klaxon-Rule"] = notification.rule_id
    message["X-Klaxon-Priority"] = notification.priority
    message.set_content(
        notification.message + _links_text(notification.links, notification.message)
    )
    # The bridge renders the "html" variant with event values escaped; a task from before
    # the variant existed falls back to the escaped plain message.
    body = notification.variants.get("html") or html.escape(notification.message)
    links = _links_html(notification.links)
    message.add_alternative(_HTML_PAGE.format(body=body, links=links), subtype="html")
    return message


def error_for_reply(code: int, text: str, what: str) -> DeliveryError:
    """A delivery error for an SMTP reply ``code`` to ``what`` (a command or stage)."""
    message = f"{what} answered {code}: {text}" if text else f"{what} answered {code}"
    if 400 <= code < 500:
        reason = Reason.RATE_LIMITED if code in _THROTTLING else Reason.SERVER_ERROR
        return TransientError(message, reason)
    return PermanentError(message, Reason.AUTH if code in _AUTH_CODES else Reason.CLIENT_ERROR)


def _reply_text(raw: bytes | str) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())[:300]


def _refusal_error(refused: Mapping[str, tuple[int, bytes]], target: str) -> DeliveryError:
    listing = "; ".join(f"{r} ({c} {_reply_text(t)})" for r, (c, t) in refused.items())
    message = f"{target} refused {len(refused)} recipient(s): {listing}"
    transient = [code for code, _ in refused.values() if 400 <= code < 500]
    if transient:
        # Only the refused recipients are retried: the others are already in the ledger.
        reason = Reason.RATE_LIMITED if _THROTTLING & set(transient) else Reason.SERVER_ERROR
        return TransientError(message, reason)
    return PermanentError(message, Reason.INVALID_RECIPIENT)


@contextmanager
def smtp_errors(target: str) -> Iterator[None]:
    """Turn smtplib, ssl and socket failures into typed, secret-free delivery errors."""
    try:
        yield
    except smtplib.SMTPRecipientsRefused as exc:
        raise _refusal_error(exc.recipients, target) from exc
    except smtplib.SMTPResponseException as exc:
        raise error_for_reply(exc.smtp_code, _reply_text(exc.smtp_error), target) from exc
    except smtplib.SMTPServerDisconnected as exc:
        if isinstance(exc.__context__, TimeoutError):
            raise TransientError(f"{target} did not answer in time", Reason.TIMEOUT) from exc
        raise TransientError(f"{target} closed the connection", Reason.CONNECTION) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise PermanentError(f"{target}: {exc}", Reason.CLIENT_ERROR) from exc
    except smtplib.SMTPException as exc:
        raise PermanentError(f"{target} failed: {exc}", Reason.CLIENT_ERROR) from exc
    except ssl.SSLCertVerificationError as exc:
        raise PermanentError(
            f"{target}: TLS certificate verification failed: {exc.verify_message}",
            Reason.CLIENT_ERROR,
        ) from exc
    except ssl.SSLError as exc:
        # A handshake that fails outright (TLS spoken to a plain port) is a setting to fix.
        raise PermanentError(
            f"{target}: TLS handshake failed: {exc.reason}", Reason.CLIENT_ERROR
        ) from exc
    except TimeoutError as exc:
        raise TransientError(f"{target} did not answer in time", Reason.TIMEOUT) from exc
    except OSError as exc:
        raise TransientError(
            f"cannot connect to {target}: {exc.strerror or type(exc).__name__}", Reason.CONNECTION
        ) from exc


class EmailChannel:
    def __init__(self, settings: EmailSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.target = f"smtp {settings.smtp_host}:{settings.smtp_port}"

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.settings.ca_file)
        if not self.settings.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            return smtplib.SMTP_SSL(
                s.smtp_host,
                s.smtp_port,
                local_hostname=s.helo_hostname,
                timeout=s.timeout_seconds,
                context=self.tls_context(),
            )
        return smtplib.SMTP(
            s.smtp_host, s.smtp_port, local_hostname=s.helo_hostname, timeout=s.timeout_seconds
        )

    def send(self, notification: Notification, ledger: RecipientLedger) -> None:
        s = self.settings
        override = notification.recipients
        everyone = list(override if override is not None else s.recipients)
        if not everyone:
            raise PermanentError(f"{self.target}: no recipients to send to", Reason.CLIENT_ERROR)
        pending = [r for r in everyone if not ledger.already_sent(r)]
        if not pending:
            return
        message = build_message(s, notification, everyone, self.clock())
        with smtp_errors(self.target):
            smtp = self._connect()
            try:
                if s.security == "starttls":
                    smtp.ehlo()
                    smtp.starttls(context=self.tls_context())
                    smtp.ehlo()
                if s.username and s.password:
                    smtp.login(s.username, s.password)
                refused = smtp.send_message(message, to_addrs=pending)
            finally:
                _close(smtp)
        for recipient in pending:
            if recipient not in refused:
                ledger.mark_sent(recipient)
        if refused:
            raise _refusal_error(refused, self.target)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; a failure after the message was accepted must not fail the send."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


SPEC = ChannelSpec(settings=settings_spec.SPEC, build=EmailChannel)
