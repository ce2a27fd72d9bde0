"""The workers: notification tasks, the sent-ledger, retries, dead letters and channels.

``celery -A tasks worker`` finds ``app`` here. It is built on first use (PEP 562), not on
import, so ``import tasks.deadletters`` (the CLI, the API) reads no environment and
loads no channel library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from celery import Celery


def __getattr__(name: str) -> Celery:
    if name == "app":
        from tasks.app_instance import app  # noqa: PLC0415 - built on first use, see above

        return app
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
