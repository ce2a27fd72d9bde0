"""The workers' Celery app, configured from the environment when a worker process starts."""

import tasks.log_redaction  # noqa: F401 - connects secret redaction to Celery's logging
from contract.celery_app import make_app
from contract.settings import Settings

# The modules that define the workers' tasks, imported by the worker at start.
WORKER_MODULES = ("tasks.notify", "tasks.sweep", "tasks.worker_metrics", "tasks.retry_pump")

app = make_app(Settings.from_env(), include=WORKER_MODULES)
