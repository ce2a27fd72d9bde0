"""Keep secrets out of every log line, whoever logs it (our code, urllib3, twilio, Celery).

``SECRETS`` holds the secret values this process knows: environment variables named like
secrets, and the channel settings each time a config is loaded. ``RedactingFilter`` sits on
every handler (a filter on a logger would miss records propagated from child loggers such
as ``urllib3.connectionpool``) and masks those values, in every form ``forms_of`` lists,
plus well-known secret shapes, in the formatted message and the traceback.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from contract.secret_forms import all_forms, env_secrets, settings_secrets

MASK = "***"

# Secret shapes worth masking even when the value is not known to this process (a URL in an
# exception from a library, a header a library chose to log). Each match is the secret
# alone: fixed-width look-behinds keep the readable prefix. Python's regex engine is slow
# at trying such patterns at every position (about 40 us a line for all of them), so each
# runs only when one of its anchors is in the text (a substring test costs well under 1 us).
_SHAPES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (anchors, re.compile(pattern))
    for anchors, pattern in (
        (("hooks.slack.com/services/",), r"(?<=hooks\.slack\.com/services/)[^\s'\"<>]+"),
        (("Basic ", "basic ", "BASIC "), r"(?<=[Bb]asic |BASIC )[A-Za-z0-9+/=]{8,}"),
        (("Bearer ", "bearer ", "BEARER "), r"(?<=[Bb]earer |BEARER )[A-Za-z0-9+/=._~-]{8,}"),
        (("AUTH PLAIN ", "AUTH LOGIN "), r"(?<=AUTH PLAIN |AUTH LOGIN )[A-Za-z0-9+/=]{8,}"),
        (("@",), r"(?<=://)[^/\s:@'\"]+:[^/\s@'\"]+(?=@)"),  # user:password@ in a URL
        (("whsec_",), r"\bwhsec_[A-Za-z0-9+/=]{8,}"),
        (("xox",), r"\bxox[abposr]-[A-Za-z0-9-]{8,}"),  # Slack API tokens
    )
)
_NOTHING = re.compile(r"(?!)")


def _compile(values: Iterable[str]) -> re.Pattern[str]:
    # Longest first, so that a URL is masked whole rather than around its path.
    literals = [re.escape(v) for v in sorted(values, key=len, reverse=True)]
    return re.compile("|".join(literals)) if literals else _NOTHING


class SecretRegistry:
    """The secret values of this process, compiled into one pattern; they are only added.

    A value that stops being configured (a rotated token) stays masked: it was a secret.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self._pattern = _compile(())

    @property
    def values(self) -> frozenset[str]:
        return self._values

    def add(self, secrets: Iterable[str]) -> None:
        """Mask ``secrets`` (and their encoded forms) from now on."""
        fresh = all_forms(secrets) - self._values
        if not fresh:
            return
        with self._lock:
            values = self._values | fresh
            # One swap of the compiled pattern: filters on other threads see old or new.
            self._pattern = _compile(values)
            self._values = values

    def add_env(self, env: Mapping[str, str] | None = None) -> None:
        self.add(env_secrets(os.environ if env is None else env))

    def add_channels(self, channels: Mapping[str, Any]) -> None:
        """The secrets of a loaded config's channels (``KlaxonConfig.channels``)."""
        found: set[str] = set()
        for channel in channels.values():
            found |= settings_secrets(getattr(channel, "settings", None))
        self.add(found)

    @property
    def pattern(self) -> re.Pattern[str]:
        """The known secret values in every form, as one alternation."""
        return self._pattern

    def redact(self, text: str) -> str:
        """``text`` with every well-known secret shape and every known secret masked."""
        # Shapes first: they mask a whole credential (all of ``Basic <base64>``), where a
        # known value would mask only its own part of it.
        for anchors, shape in _SHAPES:
            for anchor in anchors:
                if anchor in text:
                    text = shape.sub(MASK, text)
                    break
        return self._pattern.sub(MASK, text)


SECRETS = SecretRegistry()


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments, traceback and stack; never drops it."""

    def __init__(self, registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        pattern = self.registry.pattern
        # A record met by several handlers is masked once (unless a secret came in since).
        if record.__dict__.get(_DONE) is pattern:
            return True
        redact = self.registry.redact
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not print its args raw
            message = f"{record.msg!s} (arguments that did not fit: {record.args!r})"
        # The formatted text replaces msg and args, so no handler formats the raw args again.
        record.msg, record.args = redact(message), None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _PLAIN.formatException(record.exc_info)
            # Formatters print exc_text when exc_info is gone; dropping it stops any
            # formatter from rendering the raw traceback again.
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record.__dict__[_DONE] = pattern
        return True


_PLAIN = logging.Formatter()
_DONE = "_klaxon_redacted_with"


def _handlers() -> Iterable[logging.Handler]:
    yield from logging.getLogger().handlers
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            yield from logger.handlers
    if logging.lastResort is not None:
        yield logging.lastResort


def install(registry: SecretRegistry = SECRETS) -> None:
    """Put a RedactingFilter on every handler that exists now (once each).

    Called after each part sets up logging: ``contract.logs.setup`` and Celery's logging
    signals, which cover the handlers Celery adds to root, ``celery.task`` (which does not
    propagate) and the multiprocessing logger.
    """
    registry.add_env()
    for handler in _handlers():
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(registry))
