"""Logging for people (text) or machines (``--log-format json``), with secrets redacted."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time

# Values of environment variables that hold secrets are replaced wherever they appear.
_SECRET_NAMES = re.compile(r"(PASSWORD|TOKEN|SECRET|AUTH|SID|WEBHOOK_URL|API_KEY)", re.IGNORECASE)


def secret_values(env: dict[str, str] | None = None) -> list[str]:
    env = dict(os.environ) if env is None else env
    values = [v for k, v in env.items() if _SECRET_NAMES.search(k) and len(v) >= 6]
    return sorted(set(values), key=len, reverse=True)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(verbose: bool = False, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secret_values()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        for noisy in ("kombu", "celery.app", "urllib3", "librdkafka"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
