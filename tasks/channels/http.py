"""One mapping from HTTP outcomes to delivery errors, shared by every HTTP channel."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from tasks.channels.errors import PermanentError, Reason, TransientError

# 408 Request Timeout and 429 Too Many Requests are the 4xx codes worth retrying.
_TRANSIENT_4XX = {408: Reason.TIMEOUT, 429: Reason.RATE_LIMITED}
_AUTH_4XX = {401, 403}


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse Retry-After: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def raise_for_delivery(response: requests.Response, target: str, detail: str = "") -> None:
    """Return if 2xx; raise TransientError for 408/429/5xx, PermanentError for other codes."""
    status = response.status_code
    if 200 <= status < 300:
        return
    what = f"{target} answered {status}"
    if detail:
        what = f"{what}: {detail}"
    if status in _TRANSIENT_4XX:
        raise TransientError(
            what, _TRANSIENT_4XX[status], retry_after_seconds(response.headers.get("Retry-After"))
        )
    if status >= 500:
        raise TransientError(
            what, Reason.SERVER_ERROR, retry_after_seconds(response.headers.get("Retry-After"))
        )
    if status in _AUTH_4XX:
        raise PermanentError(what, Reason.AUTH)
    raise PermanentError(what, Reason.CLIENT_ERROR)


@contextmanager
def transport_errors(target: str) -> Iterator[None]:
    """Turn requests' connection-level failures into typed, secret-free delivery errors.

    The requests exception is not chained: its text holds the full URL, which can carry a
    secret (Slack webhook paths, ``?token=``), and Celery logs the whole chain.
    """
    try:
        yield
    except requests.Timeout as exc:
        kind = type(exc).__name__
        raise TransientError(f"{target} did not answer in time ({kind})", Reason.TIMEOUT) from None
    except requests.ConnectionError as exc:
        kind = type(exc).__name__
        raise TransientError(f"cannot connect to {target} ({kind})", Reason.CONNECTION) from None
    except requests.RequestException as exc:
        raise PermanentError(
            f"request to {target} failed: {type(exc).__name__}", Reason.CLIENT_ERROR
        ) from None
