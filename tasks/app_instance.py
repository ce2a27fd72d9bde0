"""The workers' Celery app, configured from the environment when a worker process starts."""

from collections.abc import Callable
from typing import ParamSpec, TypeVar

import tasks.log_redaction  # noqa: F401 - connects secret redaction to Celery's logging
from contract.celery_app import make_app
from contract.settings import Settings
from tasks.runtime import WorkerRuntime

# The modules that define the workers' tasks, imported by the worker at start.
WORKER_MODULES = ("tasks.notify", "tasks.sweep", "tasks.worker_metrics", "tasks.retry_pump")

# The environment is read here, once, when a worker (or beat) process imports its app;
# everything else is handed these settings.
SETTINGS = Settings.from_env()
app = make_app(SETTINGS, include=WORKER_MODULES)
runtime = WorkerRuntime(SETTINGS)

P = ParamSpec("P")
R = TypeVar("R")


def task(name: str, **options: object) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``@app.task(name=name, **options)`` with the function's type kept.

    Celery's decorator is untyped; this is the one place that says what it gives back: the
    registered task, which calls the function when called.
    """

    def register(function: Callable[P, R]) -> Callable[P, R]:
        registered: Callable[P, R] = app.task(name=name, **options)(function)
        return registered

    return register
