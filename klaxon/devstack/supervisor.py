"""Child processes of the dev stack: started in their own process groups, logging to files,
stopped together, and none left behind.

Each child leads a new session, so a Ctrl-C in the terminal reaches only ``klaxon dev``,
which then stops the children in order: applications first (the bridge commits, workers
acknowledge), infrastructure (Redis, Kafka) after them. A group still alive after the grace
period gets SIGKILL. ``atexit`` stops whatever is left if ``klaxon dev`` ends any other
way, and on Linux every child also gets SIGKILL if ``klaxon dev`` itself is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

APP = 0  # stopped first
INFRA = 1  # stopped once every application child is gone

_PR_SET_PDEATHSIG = 1


class ChildFailed(Exception):
    """A child exited, or did not become ready in time."""


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the child when its parent thread dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return hook


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def processes_in_groups(groups: set[int]) -> list[int]:
    """Live (non-zombie) processes whose process group is in ``groups``, from /proc."""
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return [g for g in groups if _group_alive(g)]
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields and fields[0] != "Z" and int(fields[2]) in groups:
            found.append(int(entry.name))
    return found


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path
    tier: int = APP
    stop_signal: int = signal.SIGTERM
    killed: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, text: str, timeout: float, stop: threading.Event | None = None) -> None:
        """Return once ``text`` is in the log; ChildFailed if the child exits or time runs out."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if not self.alive:
                raise ChildFailed(
                    f"{self.name} exited with code {self.process.returncode}; "
                    f"the end of {self.log_path}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise ChildFailed(
                    f"{self.name} was not ready after {timeout:g}s (no {text!r} in its log); "
                    f"the end of {self.log_path}:\n{self.tail()}"
                )
            if stop is not None and stop.is_set():
                raise ChildFailed(f"stopped while waiting for {self.name}")
            time.sleep(0.1)


class Supervisor:
    """Starts children with logs under ``run_dir``; ``stop_all`` ends every one of them."""

    def __init__(self, run_dir: Path, grace: float = 4.0) -> None:
        self.run_dir = run_dir
        self.grace = grace
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self._hurry = threading.Event()
        self._preexec = _die_with_parent_hook()
        self._stopped = False
        atexit.register(self.stop_all)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        cwd: Path | None = None,
        tier: int = APP,
        stop_signal: int = signal.SIGTERM,
    ) -> Child:
        log_path = self.run_dir / f"{name}.log"
        with log_path.open("wb") as log:
            log.write(f"$ {shlex.join(argv)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self._preexec,  # noqa: PLW1509 - only prctl(), async-signal-safe
            )
        child = Child(name, list(argv), process, log_path, tier, stop_signal)
        with self._lock:
            self.children.append(child)
            if self._stopped:  # started while stopping: stop it too
                self._stop_tier([child])
        return child

    def hurry(self) -> None:
        """End the grace period now: what is still running gets SIGKILL."""
        self._hurry.set()

    def groups(self) -> set[int]:
        return {child.pid for child in self.children}

    def survivors(self) -> list[int]:
        """Processes of ours still alive (children and anything they started)."""
        for child in self.children:
            child.process.poll()  # reap an exited leader, so it is not counted
        return processes_in_groups(self.groups())

    def stop_all(self) -> list[str]:
        """Stop every child, applications first; the names of those that needed SIGKILL."""
        with self._lock:
            if self._stopped:
                return []  # once only: the pids of reaped children may be reused
            self._stopped = True
            killed: list[str] = []
            for tier in (APP, INFRA):
                killed += self._stop_tier([c for c in self.children if c.tier == tier])
            leftover = self.survivors()
            for pid in leftover:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return killed

    def _stop_tier(self, children: list[Child]) -> list[str]:
        for child in children:
            if child.stop_signal == signal.SIGKILL:
                child.killed = True
            self._signal(child, child.stop_signal)
        deadline = time.monotonic() + self.grace
        while any(self._running(c) for c in children):
            if time.monotonic() > deadline or self._hurry.is_set():
                break
            time.sleep(0.05)
        killed: list[str] = []
        for child in children:
            if self._running(child):
                child.killed = True
                killed.append(child.name)
                self._signal(child, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(5)
        return killed

    @staticmethod
    def _running(child: Child) -> bool:
        return child.process.poll() is None or _group_alive(child.pid)

    @staticmethod
    def _signal(child: Child, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signum)
