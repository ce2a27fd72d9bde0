"""The delivery tasks, one per channel (``notify.email``, ``notify.slack``, ...).

A failed attempt is settled here by asking ``tasks.retry.decide`` and doing what it says:
retry after a wait (Celery's ``Task.retry``: the worker reports RETRY and Flower shows it),
wait for another worker's lease, wait for the send's turn under the channel's rate limit
(tasks.throttle), or keep a dead letter and fail. A retry's message is
parked in Redis's delayed set (``tasks.delayed``), never held by the worker, so waits do not
bound the broker's visibility timeout. The sent-ledger around the send makes a duplicate
task a no-op.
"""

from __future__ import annotations

import logging
import time
from enum import StrEnum
from functools import cache
from typing import NoReturn

from celery import Task
from celery.signals import worker_init

from alerts.muting.records import record_muted
from alerts.muting.silences import SilenceMuter, SilenceStore
from contract.notification import Notification
from contract.queues import queue_for
from tasks import history
from tasks.app_instance import app, runtime
from tasks.channels import CHANNELS, DeliveryError, TransientError
from tasks.deadletters import DeadLetter, DeadLetterStore
from tasks.delayed import DelayedSet
from tasks.delayed_producer import DelayingProducer
from tasks.fallback import fallback_copy, remember_fallback
from tasks.ledger import Claim, RedisLedger
from tasks.retry import (
    Decision,
    Failure,
    GiveUp,
    RetryIn,
    WaitForLease,
    WaitForTurn,
    decide,
    remember,
)
from tasks.throttle import plan_send

log = logging.getLogger(__name__)

# This run's attempt id travels with the task's request, from deliver() to settle().
_ATTEMPT_ATTRIBUTE = "klaxon_attempt"


class Delivered(StrEnum):
    """What a successful task did: the Celery result, and what the metrics count."""

    SENT = "sent"
    DUPLICATE = "duplicate"
    SILENCED = "silenced"  # a silence added after the bridge enqueued it


class LeaseBusy(Exception):
    """Another worker is sending this notification id right now."""

    def __init__(self, notification_id: str, seconds_left: float | None) -> None:
        super().__init__(f"{notification_id} is being sent by another worker")
        self.seconds_left = seconds_left


class Throttled(Exception):
    """The channel's rate limit booked this send's turn ``seconds`` from now."""

    def __init__(self, notification_id: str, seconds: float) -> None:
        super().__init__(f"{notification_id} waits {seconds:.2f}s for its turn (rate limit)")
        self.seconds = seconds


Waiting = LeaseBusy | Throttled


class NotifyTask(Task):  # type: ignore[misc]  # celery is untyped: Task is Any
    """Base of every ``notify.<channel>`` task."""

    # Failed attempts are counted in Redis (lease waits are not failures); ``decide`` says
    # when to stop, so Celery's own limit is off.
    max_retries = None
    acks_late = True
    channel_name: str = ""

    def apply_async(
        self,
        args: object = None,
        kwargs: object = None,
        task_id: str | None = None,
        producer: object = None,
        link: object = None,
        link_error: object = None,
        shadow: str | None = None,
        **options: object,
    ) -> object:
        """Publish as Celery does; a message with a countdown or ETA goes to the delayed set."""
        if options.get("countdown") is None and options.get("eta") is None:
            return super().apply_async(
                args, kwargs, task_id, producer, link, link_error, shadow, **options
            )
        with self.app.connection_for_write() as connection:
            channel = connection.default_channel
            delaying = DelayingProducer(channel, DelayedSet(channel.client))
            return super().apply_async(
                args, kwargs, task_id, delaying, link, link_error, shadow, **options
            )

    def settle(self, payload: dict[str, object], exc: DeliveryError | Waiting) -> NoReturn:
        """Decide the fate of the failed attempt and carry it out."""
        config, _ = runtime.channel(self.channel_name)
        store = DeadLetterStore(runtime.redis)
        first = time.time()
        decision: Decision
        if isinstance(exc, LeaseBusy):
            decision = decide(config.retry, Failure.LEASE_BUSY, 0, lease_left=exc.seconds_left)
        elif isinstance(exc, Throttled):
            decision = decide(config.retry, Failure.THROTTLED, 0, turn_in=exc.seconds)
        else:
            attempts, first = store.note_failure(self.request.id)
            failure = Failure.TRANSIENT if isinstance(exc, TransientError) else Failure.PERMANENT
            decision = decide(config.retry, failure, attempts - 1, exc.retry_after)
        remember(self.request, decision)
        attempt_id = getattr(self.request, _ATTEMPT_ATTRIBUTE, None)
        if attempt_id and isinstance(exc, DeliveryError):
            history.attempt_failed(
                runtime.redis,
                self.request.id,
                attempt_id,
                str(exc),
                str(exc.reason),
                dead=isinstance(decision, GiveUp),
            )
        match decision:
            case GiveUp():
                if isinstance(exc, DeliveryError):
                    self.dead_letter(payload, exc, decision, first, store)
                raise exc
            case RetryIn(seconds=seconds, attempt=attempt):
                log.warning(
                    "%s %s attempt %d failed (%s): %s; retrying in %.1fs",
                    self.name,
                    self.request.id,
                    attempt,
                    getattr(exc, "reason", ""),
                    exc,
                    seconds,
                )
            case WaitForLease(seconds=seconds):
                log.info(
                    "%s %s: %s; looking again in %.1fs", self.name, self.request.id, exc, seconds
                )
            case WaitForTurn(seconds=seconds):
                log.info("%s %s: throttled: wait %.2fs", self.name, self.request.id, seconds)
        # Celery's own retry: publishes the same task id with retries + 1 (to the delayed
        # set, see apply_async) and the worker reports RETRY (task-retried for Flower).
        raise self.retry(exc=exc, countdown=seconds, throw=False)

    def dead_letter(
        self,
        payload: dict[str, object],
        exc: DeliveryError,
        decision: GiveUp,
        first_failure_at: float,
        store: DeadLetterStore,
    ) -> None:
        """Keep what could not be sent, with the recipients still owed; hand it to the fallback.

        The fallback copy is published before the record is written: a crash between the
        two dead-letters the task again, which publishes the same copy id (sent once).
        """
        notification = Notification.from_dict(payload)
        task_id = self.request.id
        sent = RedisLedger(runtime.redis, task_id).sent_recipients()
        recipients = notification.recipients or _default_recipients(self.channel_name)
        config, _ = runtime.channel(self.channel_name)
        copy = fallback_copy(notification, config.fallback)
        if copy is not None:
            TASKS[copy.channel].apply_async(
                args=[copy.to_dict()], task_id=copy.id, queue=queue_for(copy.channel)
            )
            remember_fallback(self.request, copy.channel)
            log.warning(
                "%s %s: sent once more through its fallback %s as %s",
                self.name,
                task_id,
                copy.channel,
                copy.id,
            )
        store.add(
            DeadLetter(
                id=task_id,
                rule_id=notification.rule_id,
                channel=notification.channel,
                recipients_left=[r for r in recipients if r not in sent],
                message=notification.message,
                error=str(exc),
                reason=str(exc.reason),
                attempts=decision.attempt,
                first_failure_at=first_failure_at,
                last_failure_at=time.time(),
                notification=payload,
                fallback_channel=None if copy is None else copy.channel,
                fallback_id=None if copy is None else copy.id,
            )
        )
        log.error(
            "%s %s dead-lettered after %d attempt(s) (%s, %s): %s",
            self.name,
            task_id,
            decision.attempt,
            decision.why,
            exc.reason,
            exc,
        )

    def on_failure(
        self, exc: BaseException, task_id: str, args: object, kwargs: object, einfo: object
    ) -> None:
        if not isinstance(exc, DeliveryError):
            log.error("%s %s failed unexpectedly: %r", self.name, task_id, exc)


def _default_recipients(channel: str) -> list[str]:
    config, _ = runtime.channel(channel)
    configured = CHANNELS[channel].recipients
    return list(configured(config.settings)) if configured else []


def _load_channels_at_start(**_: object) -> None:
    # Before prefork children fork, so they start with the settings already loaded.
    runtime.preload()


worker_init.connect(_load_channels_at_start)


@cache
def _silences() -> SilenceMuter:
    # One per process (each prefork child its own), refreshed from Redis every second.
    return SilenceMuter(SilenceStore(runtime.redis))


def deliver(task: NotifyTask, payload: dict[str, object]) -> Delivered:
    notification = Notification.from_dict(payload)
    ledger = RedisLedger(runtime.redis, notification.id, runtime.settings.lease_seconds)
    claimed = ledger.claim()  # one round trip: sent already, our lease, or someone else's
    if claimed.claim is Claim.SENT:
        log.info("%s %s was already sent; skipping the duplicate", task.name, notification.id)
        return Delivered.DUPLICATE
    if claimed.claim is Claim.BUSY:
        raise LeaseBusy(notification.id, claimed.lease_left)
    # The bridge asked the silences before it enqueued; one added since still stops this.
    now = time.time()
    silenced = _silences().mutes(notification, now)
    if silenced is not None:
        ledger.release_lease()
        record_muted(runtime.redis, [(notification, silenced)], now)
        log.info("%s %s not sent: %s", task.name, notification.id, silenced.reason)
        return Delivered.SILENCED
    try:
        config, channel = runtime.channel(notification.channel)
        spec = CHANNELS[notification.channel].settings
        throttled = config.throttle.active and spec.has_recipients
        sent = ledger.sent_recipients() if throttled else set()
        buckets = plan_send(spec, config.throttle, config.settings, notification, sent)
        wait = runtime.gate.turn(notification.id, buckets)
        if wait > 0:
            raise Throttled(notification.id, wait)
        # A wait for a turn is no attempt; from here on the history records one.
        attempt_id = history.attempt_started(runtime.redis, notification)
        setattr(task.request, _ATTEMPT_ATTRIBUTE, attempt_id)  # settle() records the failure
        channel.send(notification, ledger)
    except BaseException:
        ledger.release_lease()
        raise
    ledger.mark_done()  # marks sent and releases the lease in the same round trip
    history.attempt_sent(runtime.redis, notification.id, attempt_id)
    return Delivered.SENT


def _register(channel: str) -> NotifyTask:
    def run(self: NotifyTask, payload: dict[str, object]) -> str:
        try:
            return str(deliver(self, payload))
        except (DeliveryError, LeaseBusy, Throttled) as exc:
            self.settle(payload, exc)

    run.__name__ = f"notify_{channel}"
    task: NotifyTask = app.task(
        bind=True, base=NotifyTask, name=queue_for(channel), channel_name=channel
    )(run)
    return task


TASKS: dict[str, NotifyTask] = {name: _register(name) for name in CHANNELS}
