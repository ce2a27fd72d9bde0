"""The delivery tasks, one per channel (``notify.email``, ``notify.slack``, ...).

Retrying lives here and nowhere else: a channel raises ``TransientError`` and Celery's
``autoretry_for`` retries with the channel's backoff (the seed's 5 s, 10 s, 20 s by default,
or the receiver's Retry-After when longer). ``PermanentError`` or exhausted retries end in
a dead letter. The sent-ledger around the send makes a duplicate task a no-op.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.exceptions import Retry
from celery.signals import worker_init

from contract.notification import Notification
from contract.queues import queue_for
from contract.retry_policy import RetryPolicy
from tasks.app_instance import app
from tasks.channels import CHANNELS, DeliveryError, TransientError
from tasks.deadletters import DeadLetter, DeadLetterStore
from tasks.ledger import LEASE_SECONDS, RedisLedger
from tasks.runtime import runtime

log = logging.getLogger(__name__)


class LeaseBusy(Exception):
    """Another worker is sending this notification id right now."""


class NotifyTask(Task):  # type: ignore[misc]
    """Base of every ``notify.<channel>`` task."""

    autoretry_for = (TransientError, LeaseBusy)
    # The seed's defaults; per-channel policies replace them in ``retry`` below.
    max_retries = RetryPolicy().max_retries
    retry_backoff = RetryPolicy().backoff_seconds
    retry_jitter = False
    acks_late = True
    channel_name: str = ""

    def policy(self) -> RetryPolicy:
        config, _ = runtime.channel(self.channel_name)
        return config.retry

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: Any = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        # autoretry_for computes a countdown from the class defaults; the channel's own
        # policy and the receiver's Retry-After decide instead. Failed attempts are counted
        # in Redis, not by Celery's ``request.retries``, which also counts lease waits.
        unlimited = self.request.retries + 1
        if isinstance(exc, LeaseBusy):
            # Another worker holds the lease: wait for it; that is not a failed attempt.
            return super().retry(
                args, kwargs, exc, throw, eta, LEASE_SECONDS / 4, unlimited, **options
            )
        if isinstance(exc, DeliveryError):
            policy = self.policy()
            store = DeadLetterStore(runtime.redis)
            failed = store.failures(self.request.id)
            if failed >= policy.max_retries:
                raise exc  # out of retries: on_failure counts this attempt and dead-letters it
            store.note_failure(self.request.id)
            countdown = policy.countdown(failed, exc.retry_after)
            max_retries = unlimited
            log.warning(
                "%s %s attempt %d failed (%s): %s; retrying in %.1fs",
                self.name,
                self.request.id,
                failed + 1,
                exc.reason,
                exc,
                countdown,
            )
        return super().retry(args, kwargs, exc, throw, eta, countdown, max_retries, **options)

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Permanent error or retries exhausted: keep what could not be sent."""
        if not args or not isinstance(exc, DeliveryError):
            log.error("%s %s failed unexpectedly: %r", self.name, task_id, exc)
            return
        notification = Notification.from_dict(args[0])
        store = DeadLetterStore(runtime.redis)
        attempts, first = store.note_failure(task_id)
        ledger = RedisLedger(runtime.redis, task_id)
        sent = ledger.sent_recipients()
        recipients = notification.recipients or _default_recipients(self.channel_name)
        store.add(
            DeadLetter(
                id=task_id,
                rule_id=notification.rule_id,
                channel=notification.channel,
                recipients_left=[r for r in recipients if r not in sent],
                message=notification.message,
                error=str(exc),
                reason=str(exc.reason),
                attempts=attempts,
                first_failure_at=first,
                last_failure_at=time.time(),
                notification=args[0],
            )
        )
        log.error(
            "%s %s dead-lettered after %d attempt(s) (%s): %s",
            self.name,
            task_id,
            attempts,
            exc.reason,
            exc,
        )


def _default_recipients(channel: str) -> list[str]:
    config, _ = runtime.channel(channel)
    configured = CHANNELS[channel].recipients
    return list(configured(config.settings)) if configured else []


@worker_init.connect  # type: ignore[untyped-decorator]
def _load_channels_at_start(**_: Any) -> None:
    # Before prefork children fork, so they start with the settings already loaded.
    runtime.preload()


def deliver(task: NotifyTask, payload: dict[str, Any]) -> str:
    notification = Notification.from_dict(payload)
    ledger = RedisLedger(runtime.redis, notification.id)
    if ledger.is_sent():
        log.info("%s %s was already sent; skipping the duplicate", task.name, notification.id)
        return "duplicate"
    if not ledger.acquire_lease():
        raise LeaseBusy(notification.id)
    try:
        _, channel = runtime.channel(notification.channel)
        channel.send(notification, ledger)
        ledger.mark_done()
    finally:
        ledger.release_lease()
    return "sent"


def _register(channel: str) -> NotifyTask:
    def run(self: NotifyTask, payload: dict[str, Any]) -> str:
        return deliver(self, payload)

    run.__name__ = f"notify_{channel}"
    task: NotifyTask = app.task(
        bind=True, base=NotifyTask, name=queue_for(channel), channel_name=channel
    )(run)
    return task


TASKS: dict[str, NotifyTask] = {name: _register(name) for name in CHANNELS}
