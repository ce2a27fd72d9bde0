"""Waiting on a condition with a deadline: the only way tests wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float = 20.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Return the first truthy value of ``condition()``; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:g}s waiting for {text}")
        time.sleep(interval)


def stays_true(condition: Callable[[], bool], duration: float, interval: float = 0.05) -> bool:
    """True if ``condition()`` holds for the whole of ``duration`` (to show nothing more arrives).

    Used only after the system has demonstrably processed later input (a marker event), so
    it bounds the time a straggler would have had, it does not hope for one.
    """
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if not condition():
            return False
        time.sleep(interval)
    return condition()
