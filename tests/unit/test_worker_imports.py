"""What a worker's main process loads before Prometheus's multiprocess mode is set up."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT

PROBE = (
    "import importlib, sys\n"
    "import tasks.app_instance as app\n"
    "for name in app.WORKER_MODULES:\n"
    "    importlib.import_module(name)\n"
    "print(sorted(m for m in sys.modules if m == 'contract.metrics'))\n"
)


def test_importing_the_worker_modules_creates_no_bridge_metric() -> None:
    """contract.metrics stays unloaded: its label-less metrics would write main-process files."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
