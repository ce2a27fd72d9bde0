"""Klaxon: Kafka events to notifications, through YAML rules, Redis and Celery workers."""

from contract import __version__

__all__ = ["__version__"]
