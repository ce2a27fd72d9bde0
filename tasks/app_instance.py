"""The process-wide Celery app, configured from the environment."""

import tasks.log_redaction  # noqa: F401 - connects secret redaction to Celery's logging
from tasks.app import make_app

app = make_app()
