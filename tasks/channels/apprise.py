"""Apprise: the long tail of services, one Apprise URL each, with Apprise's own help off.

Apprise retries and throttles on its own; here both are off (``retry = 0``,
``request_rate_per_sec = 0`` on every service) so that Klaxon's retry policy
(tasks/retry.py) and rate limits (tasks/throttle.py) are the only ones.

Apprise only answers yes or no. A no is therefore a TransientError: nothing says that
trying again cannot help. Its reason is read from the warnings Apprise logs during the
send: ``connection`` when it reports a connection error (refused, and also timed out:
Apprise words both alike), else ``server_error``; those warnings (no URL, only the host)
are the error's detail. They are captured per send under a lock, so that concurrent
sends in one worker process never read each other's warnings.

Each URL is a recipient of the ledger (by a digest: the URL is a secret), so a retry
goes only to the services that said no.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import apprise

from contract.channels import apprise as settings_spec
from contract.channels.apprise import AppriseSettings
from contract.notification import Notification
from contract.redaction import SecretRegistry
from tasks.channels.base import ChannelSpec, RecipientLedger
from tasks.channels.errors import DeliveryError, PermanentError, Reason, TransientError

_CAPTURE = threading.Lock()


def ledger_key(url: str) -> str:
    """The recipient name of one URL in the sent-ledger: a digest, never the URL."""
    return "apprise:" + hashlib.sha256(url.encode()).hexdigest()[:24]


class AppriseChannel:
    def __init__(self, settings: AppriseSettings) -> None:
        self.settings = settings
        self._secrets = SecretRegistry()
        self._secrets.add(settings.urls)

    def _service(self, index: int, url: str) -> apprise.Apprise:
        services = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
        if not services.add(url):
            raise PermanentError(
                f"apprise URL #{index + 1}: not a URL Apprise knows", Reason.CLIENT_ERROR
            )
        for service in services:
            service.retry = 0
            service.request_rate_per_sec = 0
            service.socket_connect_timeout = self.settings.timeout_seconds
            service.socket_read_timeout = self.settings.timeout_seconds
        return services

    def _send_one(self, index: int, url: str, notification: Notification) -> None:
        services = self._service(index, url)
        # LogCapture has no annotations in apprise 2.2.
        capture = apprise.LogCapture(level=logging.WARNING)  # type: ignore[no-untyped-call]  # apprise: untyped
        with _CAPTURE, capture as captured:
            accepted = services.notify(
                body=notification.message, title=notification.subject or notification.rule_name
            )
        if accepted:
            return
        warnings = " ".join(
            line.split(" - WARNING - ", 1)[-1] for line in captured.getvalue().splitlines()
        )
        detail = self._secrets.redact(" ".join(warnings.split()))[:300] or "no detail"
        reason = Reason.CONNECTION if "connection error" in detail.lower() else Reason.SERVER_ERROR
        raise TransientError(f"apprise URL #{index + 1} said no: {detail}", reason)

    def send(self, notification: Notification, ledger: RecipientLedger) -> None:
        failures: list[DeliveryError] = []
        for index, url in enumerate(self.settings.urls):
            key = ledger_key(url)
            if ledger.already_sent(key):
                continue
            try:
                self._send_one(index, url, notification)
            except DeliveryError as exc:
                failures.append(exc)
                continue
            ledger.mark_sent(key)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            message = "; ".join(map(str, failures))
            if all(isinstance(f, PermanentError) for f in failures):
                raise PermanentError(message, Reason.CLIENT_ERROR)
            raise TransientError(message, failures[0].reason)


SPEC = ChannelSpec(settings=settings_spec.SPEC, build=AppriseChannel)
