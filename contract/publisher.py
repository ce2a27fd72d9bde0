"""Put notification tasks on their Celery queues, all of a batch through one producer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from celery import Celery

from contract.notification import Notification
from contract.queues import queue_for


class Publisher(Protocol):
    def publish(self, notifications: Sequence[Notification]) -> None:
        """Return only when every task is stored in the broker; raise otherwise."""


class CeleryPublisher:
    """Stock Celery publishing (``send_task``), one message per notification."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def publish(self, notifications: Sequence[Notification]) -> None:
        if not notifications:
            return
        with self.app.producer_or_acquire() as producer:
            for notification in notifications:
                queue = queue_for(notification.channel)
                self.app.send_task(
                    queue,
                    args=[notification.to_dict()],
                    task_id=notification.id,
                    queue=queue,
                    producer=producer,
                    # Do not subscribe to the result: the bridge never reads it.
                    ignore_result=True,
                )
