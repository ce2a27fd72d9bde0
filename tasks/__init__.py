"""Celery app and notification tasks: ``celery -A tasks worker`` finds ``app`` here.

The tasks themselves live in ``tasks.notify``, which the app includes when a worker starts.
"""

from tasks.app_instance import app

__all__ = ["app"]
