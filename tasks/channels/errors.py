"""Typed delivery errors (docs/design.md, invariant 7): a channel raises, it never returns False.

    DeliveryError
     ├── TransientError   retried by the Celery task with backoff
     └── PermanentError   recorded as a dead letter at once

Each carries a ``reason``, which is also the ``error_type`` label of the failure metric.
Messages must never contain a secret: channels describe the target by its masked URL.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    CLIENT_ERROR = "client_error"
    SERVER_ERROR = "server_error"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    INVALID_RECIPIENT = "invalid_recipient"


class DeliveryError(Exception):
    """A send that did not succeed, with a reason."""

    def __init__(self, message: str, reason: Reason, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        # Seconds the receiver asked us to wait (HTTP Retry-After); the task honours it.
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        # Celery pickles/serialises exceptions into the result backend; keep the reason.
        return (type(self), (str(self), self.reason, self.retry_after))


class TransientError(DeliveryError):
    """Worth trying again later: timeouts, 5xx, 429, SMTP 4xx."""


class PermanentError(DeliveryError):
    """Trying again cannot help: 4xx, bad credentials, invalid recipients."""
