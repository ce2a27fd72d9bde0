"""Hot reload of the rules: on SIGHUP, or when the file changes (polled, no extra deps).

The hotlist files the rules read (``watchlists:``, rules/watchlists) are polled with it:
a changed list reloads the whole config, and a broken one keeps the last good lists.

A reload happens between batches. An invalid file keeps the last good rules running: every
error is logged and ``klaxon_config_reloads_total{result="failure"}`` counts it. A hostile
one (an alias bomb, a huge or deeply nested file) is refused within the YAML bounds of
klaxon/bounded_yaml.py, so the batch loop never waits long on a reload. Cooldowns
and lifecycle state live in Redis, so they survive a reload untouched.

Each outcome is handed to ``record`` (the bridge writes it to Redis, contract.reloads), so
the console's rules page can say when the rules last reloaded and why one was refused.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from contract import metrics
from contract.problems import ConfigProblem
from contract.redaction import SECRETS
from contract.reloads import ReloadResult
from rules.config import KlaxonConfig, check_config

log = logging.getLogger(__name__)


def _fingerprint(path: Path) -> str | None:
    # Content, not mtime: editors that save by rename, and ConfigMap symlink swaps, change
    # the content but may keep or reset the mtime.
    # Streamed: a huge file written over the rules is refused by the loader, and must not
    # be read into memory every poll first.
    try:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return None


class Reloader:
    def __init__(
        self,
        path: Path,
        default_topic: str,
        apply: Callable[[KlaxonConfig], object],
        poll_seconds: float = 2.0,
        watched: tuple[Path, ...] = (),
        record: Callable[[ReloadResult], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.record = record
        self.clock = clock
        self.watched = watched
        self.default_topic = default_topic
        self.apply = apply
        self.poll_seconds = poll_seconds
        self.requested = threading.Event()
        self._seen = self._fingerprints()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _fingerprints(self) -> tuple[str | None, ...]:
        return tuple(_fingerprint(path) for path in (self.path, *self.watched))

    def request(self) -> None:
        """Ask for a reload at the next batch boundary (SIGHUP lands here)."""
        self.requested.set()

    def start_watching(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="rules-watch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            if self._fingerprints() != self._seen:
                self.requested.set()

    def stop(self) -> None:
        self._stop.set()

    def reload_if_requested(self) -> bool | None:
        """Reload if asked: True if the new rules run, False if refused, None if not asked."""
        if not self.requested.is_set():
            return None
        self.requested.clear()
        self._seen = self._fingerprints()
        config, problems = check_config(self.path, default_topic=self.default_topic)
        if config is not None and config.watched_files != self.watched:
            # Lists added or dropped by the new file: watch what it reads now.
            self.watched = config.watched_files
            self._seen = self._fingerprints()
        errors = [p for p in problems if not p.warning]
        if config is None or errors:
            for problem in errors:
                log.error("reload refused, keeping the last good rules: %s", problem)
            metrics.config_reloads.labels("failure").inc()
            self._record(False, 0, _described(errors) or f"{self.path} could not be loaded")
            return False
        try:
            self.apply(config)
        except Exception as exc:  # a config that validates but cannot be built: keep the old one
            log.exception("reload refused, keeping the last good rules: %s", self.path)
            metrics.config_reloads.labels("failure").inc()
            self._record(False, 0, f"the rules could not be built: {exc!r}")
            return False
        for problem in problems:
            log.warning("%s", problem)
        metrics.config_reloads.labels("success").inc()
        log.info("rules reloaded from %s: %d rule(s)", self.path, len(config.rules))
        self._record(True, len(config.rules), "")
        return True

    def _record(self, ok: bool, rules: int, error: str) -> None:
        if self.record is None:
            return
        result = ReloadResult(
            at=self.clock(), ok=ok, rules=rules, error=SECRETS.redact(error), path=str(self.path)
        )
        try:
            self.record(result)
        except Exception:  # the record is for people: a reload never fails on it
            log.warning("could not record the reload's outcome", exc_info=True)


def _described(errors: list[ConfigProblem]) -> str:
    shown = "\n".join(str(problem) for problem in errors[:10])
    more = len(errors) - 10
    return shown + (f"\n... and {more} more (see the bridge's log)" if more > 0 else "")
