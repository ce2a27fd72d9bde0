"""Which Chromium the browser tests drive, and why they skip when there is none.

Playwright never downloads a browser here: it launches Debian's ``/usr/bin/chromium``
(``apt-get install -y chromium``; ``scripts/test`` installs it when run as root).
"""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "sudo apt-get install -y chromium"


def missing_reason(executable: Path = CHROMIUM) -> str | None:
    """Why the browser tests cannot run (None when they can): names the file and the fix."""
    if executable.is_file() and os.access(executable, os.X_OK):
        return None
    return (
        f"browser tests need Chromium at {executable}, which is missing: "
        f"install it with `{INSTALL_HINT}` (scripts/test does when run as root)"
    )


def launch_args(uid: int | None = None) -> list[str]:
    """Chromium's sandbox refuses to start as root; everyone else keeps it."""
    uid = os.getuid() if uid is None else uid
    return ["--no-sandbox"] if uid == 0 else []
