"""Real Klaxon processes for end-to-end tests: Celery workers and bridges as subprocesses.

Each writes its output to a log file; readiness is a line in that log, waited on with a
deadline. Teardown kills whatever is still running, so no test leaves a process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        log_dir: Path,
        cwd: Path = ROOT,
    ) -> None:
        self.name = name
        self.cwd = cwd
        self.argv = argv
        inherited = {k: v for k, v in os.environ.items() if k != "KLAXON_FAULT"}
        self.env = {**inherited, "PYTHONUNBUFFERED": "1", **env}
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        def seen() -> bool:
            if text in self.log():
                return True
            if not self.alive:
                raise AssertionError(f"{self.name} exited early:\n{self.log()[-3000:]}")
            return False

        wait_until(
            seen,
            timeout=timeout,
            message=lambda: f"{text!r} in {self.name}'s log:\n{self.log()[-2000:]}",
        )

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group (prefork children included)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


def worker(
    env: Mapping[str, str],
    log_dir: Path,
    queues: str = "notify.webhook",
    pool: str = "threads",
    concurrency: int = 4,
) -> ManagedProcess:
    name = f"worker-{uuid.uuid4().hex[:6]}"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tasks",
        "worker",
        "-Q",
        queues,
        "-P",
        pool,
        "-c",
        str(concurrency),
        "-n",
        f"{name}@%h",
        "-E",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]
    return ManagedProcess(name, argv, env, log_dir)


def bridge(env: Mapping[str, str], log_dir: Path, *args: str) -> ManagedProcess:
    argv = [sys.executable, "-m", "klaxon", "bridge", *args]
    return ManagedProcess(f"bridge-{uuid.uuid4().hex[:6]}", argv, env, log_dir)
