"""The process-wide Celery app, configured from the environment."""

from tasks.app import make_app

app = make_app()
