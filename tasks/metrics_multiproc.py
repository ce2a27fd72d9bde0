"""prometheus-client's multiprocess mode for the workers: the directory of value files.

Prefork workers run tasks in child processes, so each process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and the main process's HTTP server adds them up
(``tasks.worker_metrics_http``). This module imports prometheus-client only inside
functions: it decides between plain and file-backed values when it is *first imported*
(``tasks.worker_metrics`` says why that matters).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiproc_dir(
    env: MutableMapping[str, str] | None = None, keep_pid: int | None = None
) -> Path:
    """Make ``PROMETHEUS_MULTIPROC_DIR`` an empty directory, creating a temporary one if unset.

    Call it before prometheus-client is imported in the worker's main process. Files left by
    an earlier run are removed (except those of ``keep_pid``): one directory per worker
    instance, never shared between instances.
    """
    env = os.environ if env is None else env
    given = env.get(MULTIPROC_ENV)
    if not given:
        path = Path(tempfile.mkdtemp(prefix="klaxon-prometheus-"))
        env[MULTIPROC_ENV] = str(path)
        owner = os.getpid()  # forked children inherit atexit hooks; only the creator cleans

        def remove() -> None:
            if os.getpid() == owner:
                shutil.rmtree(path, ignore_errors=True)

        atexit.register(remove)
        return path
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        if keep_pid is None or not stale.stem.endswith(f"_{keep_pid}"):
            stale.unlink(missing_ok=True)
    return path


def multiprocess_active() -> bool:
    """True if prometheus-client writes values to files (it was imported with the variable set)."""
    from prometheus_client import values  # noqa: PLC0415 - see the module's docstring

    return bool(getattr(values.ValueClass, "_multiprocess", False))
