"""Celery app and notification tasks: ``celery -A tasks worker`` finds ``app`` here."""

from tasks.app_instance import app
from tasks.notify import TASKS

__all__ = ["TASKS", "app"]
