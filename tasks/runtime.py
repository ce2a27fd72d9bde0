"""What a worker process needs to send: the channel settings and a Redis client.

Loaded lazily, once per process, from ``RULES_CONFIG_PATH``; a changed file is picked up on
the next task (the bridge owns validation: a broken file keeps the last good channels).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import cached_property

import redis

from contract.ack_links import LinkSigner, signer_from
from contract.problems import ConfigInvalid
from contract.redaction import SECRETS
from contract.settings import Settings
from rules.config import ChannelConfig, load_config
from tasks.channels import CHANNELS, Channel
from tasks.throttle import RateGate

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0


@dataclass
class _Loaded:
    mtime: float
    channels: dict[str, ChannelConfig]
    built: dict[str, Channel]


class WorkerRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._checked_at = 0.0
        self._tried_mtime: float | None = None

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.redis_url)

    @cached_property
    def links(self) -> LinkSigner | None:
        """Signs the ack and silence links of what the sweep sends (reminders, escalation
        steps, no-data alerts); None without KLAXON_PUBLIC_URL. Raises LinkSetupError when
        KLAXON_PUBLIC_URL is set without KLAXON_CONSOLE_SECRET (``klaxon worker`` checks
        it at start)."""
        return signer_from(self.settings)

    @cached_property
    def gate(self) -> RateGate:
        """The channels' rate limits, shared with every other worker through Redis."""
        return RateGate(self.redis)

    def _load(self) -> _Loaded:
        loaded = self._loaded
        now = time.monotonic()
        # Sends are the hot path: look at the file at most every CHECK_SECONDS, and parse it
        # only when its mtime differs from the last one tried (a broken file is tried once).
        if loaded is not None and now - self._checked_at < CHECK_SECONDS:
            return loaded
        self._checked_at = now
        path = self.settings.rules_config_path
        mtime = path.stat().st_mtime
        if loaded is not None and mtime == self._tried_mtime:
            return loaded
        self._tried_mtime = mtime
        try:
            config = load_config(path, default_topic=self.settings.kafka_topic)
        except ConfigInvalid as exc:
            if loaded is None:
                raise
            log.error("keeping the last good channel settings: %s", exc)
            return loaded
        # Before any send can log them: a new token or webhook URL is masked from the start.
        SECRETS.add_channels(config.channels)
        fresh = _Loaded(mtime, dict(config.channels), {})
        self._loaded = fresh
        return fresh

    def preload(self) -> None:
        """Load the channel settings now: a worker with a broken config fails at start."""
        with self._lock:
            self._load()

    def channel(self, name: str) -> tuple[ChannelConfig, Channel]:
        with self._lock:
            loaded = self._load()
            config = loaded.channels.get(name)
            if config is None:
                raise LookupError(
                    f"channel {name!r} is not configured in {self.settings.rules_config_path}"
                )
            built = loaded.built.get(name)
            if built is None:
                built = loaded.built[name] = CHANNELS[name].build(config.settings)
            return config, built
