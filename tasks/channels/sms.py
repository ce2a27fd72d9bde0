"""SMS through Twilio's Messages API with the official client, one message per recipient.

Each accepted message is marked in the ledger at once, so a retry sends only to the
recipients still missing. A failure that concerns one message (invalid number, a 5xx)
does not stop the others; one that concerns the account or the service (bad
credentials, rate limiting, no connection, timeout) stops the send at once. After the
loop: a TransientError if any recipient may still succeed later, else a PermanentError.

``api_base_url`` points the client at a Twilio-compatible gateway (or a test double) by
rewriting the scheme and host of ``*.twilio.com`` URLs. The auth token never appears in
an error message.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from contract.channels import sms as settings_spec
from contract.channels.masking import masked_url
from contract.channels.sms import SmsSettings, sms_body
from contract.notification import Notification
from tasks.channels.base import ChannelSpec, RecipientLedger
from tasks.channels.errors import DeliveryError, PermanentError, Reason, TransientError
from tasks.channels.http import retry_after_seconds, transport_errors

# 21211 invalid 'To' number, 21614 not a mobile number, 21610 recipient replied STOP.
_INVALID_RECIPIENT = {21211, 21610, 21614}
_AUTH_CODES = {20003}
# Failures of the account or the service rather than of one message: stop the loop.
_STOP = {Reason.AUTH, Reason.RATE_LIMITED, Reason.CONNECTION, Reason.TIMEOUT}


class GatewayHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio is untyped here
    """Sends ``*.twilio.com`` requests to ``base_url`` and keeps the last response."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base = urlsplit(base_url) if base_url else None
        self.last_response: Response | None = None

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self.base is None or not (host == "twilio.com" or host.endswith(".twilio.com")):
            return url
        path = self.base.path.rstrip("/") + parts.path
        return urlunsplit((self.base.scheme, self.base.netloc, path, parts.query, ""))

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> Response:
        self.last_response = None
        response: Response = super().request(method, self.rewrite(url), *args, **kwargs)
        self.last_response = response
        return response

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def error_for_twilio(
    exc: TwilioRestException, target: str, retry_after: float | None
) -> DeliveryError:
    """Classify Twilio's answer to one message (its text holds no secret)."""
    status = int(exc.status)
    code = f" (code {exc.code})" if exc.code and exc.code != status else ""
    detail = str(exc.msg).removeprefix("Unable to create record").removeprefix(": ")
    message = f"{target} answered {status}{code}" + (f": {detail}" if detail else "")
    if exc.code in _INVALID_RECIPIENT:
        return PermanentError(message, Reason.INVALID_RECIPIENT)
    if exc.code in _AUTH_CODES or status in (401, 403):
        return PermanentError(message, Reason.AUTH)
    if status == 429:
        return TransientError(message, Reason.RATE_LIMITED, retry_after)
    if status == 408:
        return TransientError(message, Reason.TIMEOUT)
    if status >= 500:
        return TransientError(message, Reason.SERVER_ERROR, retry_after)
    return PermanentError(message, Reason.CLIENT_ERROR)


class SmsChannel:
    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings
        base = masked_url(settings.api_base_url) if settings.api_base_url else "api.twilio.com"
        self.target = f"twilio {base}"

    def _send_one(self, client: Client, http: GatewayHttpClient, to: str, body: str) -> None:
        s = self.settings
        sender: dict[str, str] = {}
        if s.from_number:
            sender["from_"] = s.from_number
        if s.messaging_service_sid:
            sender["messaging_service_sid"] = s.messaging_service_sid
        try:
            with transport_errors(self.target):
                client.messages.create(to=to, body=body, **sender)
        except DeliveryError as exc:
            raise type(exc)(f"message to {to}: {exc}", exc.reason, exc.retry_after) from exc
        except TwilioRestException as exc:
            last = http.last_response
            retry_after = retry_after_seconds(last.headers.get("Retry-After")) if last else None
            error = error_for_twilio(exc, self.target, retry_after)
            raise type(error)(f"message to {to}: {error}", error.reason, error.retry_after) from exc
        except (TwilioException, ValueError) as exc:
            raise PermanentError(
                f"message to {to}: {self.target} failed: {type(exc).__name__}",
                Reason.CLIENT_ERROR,
            ) from exc

    def send(self, notification: Notification, ledger: RecipientLedger) -> None:
        s = self.settings
        override = notification.recipients
        numbers = list(override if override is not None else s.to_numbers)
        if not numbers:
            raise PermanentError(f"{self.target}: no recipients to send to", Reason.CLIENT_ERROR)
        body = sms_body(notification.message, notification.links.get("ack", ""))
        http = GatewayHttpClient(s.api_base_url, s.timeout_seconds)
        client = Client(s.account_sid, s.auth_token, http_client=http)
        failures: list[DeliveryError] = []
        attempted = 0
        try:
            for to in numbers:
                if ledger.already_sent(to):
                    continue
                attempted += 1
                try:
                    self._send_one(client, http, to, body)
                except DeliveryError as exc:
                    failures.append(exc)
                    if exc.reason in _STOP:
                        break
                    continue
                ledger.mark_sent(to)
        finally:
            http.close()
        if failures:
            raise _summary(failures, attempted)


def _summary(failures: list[DeliveryError], attempted: int) -> DeliveryError:
    """One error for the whole send: transient if any recipient may still succeed."""
    if len(failures) == 1:
        return failures[0]
    message = f"{len(failures)} of {attempted} message(s) failed: " + "; ".join(map(str, failures))
    transient = [f for f in failures if isinstance(f, TransientError)]
    if transient:
        waits = [f.retry_after for f in transient if f.retry_after is not None]
        return TransientError(message, transient[0].reason, max(waits) if waits else None)
    reasons = {f.reason for f in failures}
    return PermanentError(message, reasons.pop() if len(reasons) == 1 else Reason.CLIENT_ERROR)


SPEC = ChannelSpec(settings=settings_spec.SPEC, build=SmsChannel)
