"""Named crash points for tests of invariant 1 in docs/design.md: a crash replays, never skips.

``KLAXON_FAULT=crash_before_commit`` makes the bridge SIGKILL itself after a batch's tasks
are in Redis and before its offsets are committed: the worst moment to die.
``KLAXON_FAULT=sweep_before_advance`` makes a sweeping worker SIGKILL itself after it
published due follow-ups and before it took them (alerts.followups).
``KLAXON_FAULT=recorder_after_commit`` makes ``klaxon recorder`` SIGKILL itself after a
batch's commit and before it acknowledged the entries (history.recorder).
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str, fault: str) -> None:
    """SIGKILL this process at ``name`` when it is the configured ``fault`` (Settings.fault)."""
    if fault and name == fault:
        os.kill(os.getpid(), signal.SIGKILL)
