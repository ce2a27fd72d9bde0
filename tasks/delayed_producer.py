"""A kombu producer that parks task messages with an ETA in the delayed set.

Celery's ``Task.retry`` publishes the retry (same task id, ``retries`` + 1, an ``eta``)
through ``apply_async``; ``tasks.notify`` hands it this producer, so Celery builds the
message exactly as always and only the last step differs. The message goes through
kombu's own Redis channel (``prepare_message``, ``basic_publish``: routing, body encoding,
delivery tag, priority list); the channel's final command, the ``LPUSH`` onto the queue's
list, is collected instead of sent (kombu 5.7's publish-batch hook, ``_publish_batch``),
and the message is added to ``tasks.delayed.DelayedSet`` with its ETA as the due time.

Messages without an ETA (task-sent events, anything published at once) go out unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from kombu.messaging import Producer

from tasks.delayed import DelayedSet


class _Collected:
    """Stands in for kombu's Redis ``PublishBatch``: keeps the commands, sends none."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[object, ...]]] = []

    def add(self, name: str, *args: object) -> None:
        self.commands.append((name, args))


def due_time(eta: str) -> float:
    """The ETA header (ISO 8601, as Celery writes it) as a Unix time."""
    when = dt.datetime.fromisoformat(eta)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)  # Celery with enable_utc writes UTC
    return when.timestamp()


# kombu's methods are unannotated; these typed views say what this module relies on.
_producer_init: Callable[[Producer, object], None] = Producer.__init__
_producer_publish: Callable[..., object] = Producer._publish


class DelayingProducer(Producer):
    def __init__(self, channel: object, delayed: DelayedSet) -> None:
        _producer_init(self, channel)
        self.delayed = delayed

    def _publish(
        self,
        body: object,
        priority: object,
        content_type: object,
        content_encoding: object,
        headers: Mapping[str, object] | None,
        properties: object,
        routing_key: object,
        mandatory: object,
        immediate: object,
        exchange: object,
        declare: object,
        timeout: object = None,
        confirm_timeout: object = None,
        retry: object = False,
        retry_policy: object = None,
    ) -> object:
        eta = (headers or {}).get("eta") if (headers or {}).get("task") else None
        if not eta:
            return _producer_publish(
                self,
                body,
                priority,
                content_type,
                content_encoding,
                headers,
                properties,
                routing_key,
                mandatory,
                immediate,
                exchange,
                declare,
                timeout,
                confirm_timeout,
                retry,
                retry_policy,
            )
        channel = self.channel
        message = channel.prepare_message(
            body, priority, content_type, content_encoding, headers, properties
        )
        collected = _Collected()
        channel.basic_publish(
            message, exchange=exchange, routing_key=routing_key, _publish_batch=collected
        )
        pushes = [args for name, args in collected.commands if name == "lpush"]
        if not pushes:
            raise LookupError(
                f"no queue is bound to exchange {exchange!r} with routing key {routing_key!r}"
            )
        due = due_time(str(eta))
        for list_key, payload in pushes:
            self.delayed.park(str(list_key), str(payload), due)
        return None
