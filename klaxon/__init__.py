"""Klaxon: Kafka events to notifications, through YAML rules, Redis and Celery workers."""

__version__ = "0.1.0"
