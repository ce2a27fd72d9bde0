"""Publish a whole batch of notification tasks with one Redis round trip.

``PipelinedPublisher`` writes exactly what ``app.send_task`` writes through kombu's Redis
transport (Celery task protocol 2, JSON, body base64-encoded in a kombu envelope), so stock
Celery workers, ``celery inspect``, Flower and retries see no difference, but it builds the
messages itself and sends the batch as one pipeline instead of paying ~1 ms of kombu
machinery per message:

- per queue: ``SADD`` of the queue's binding (what ``send_task``'s ``declare`` leaves in
  Redis) and one multi-value ``LPUSH`` of the batch's messages, in order (a worker's
  ``BRPOP`` takes them oldest first, as after one ``LPUSH`` each);
- per task, when ``task_send_sent_event`` is on: the ``task-sent`` event that Celery's
  event dispatcher sends, as a ``PUBLISH`` on the fanout channel ``/<db>.celeryev/task.sent``
  (kombu's Redis fanout exchange), which is how Flower and ``celery events`` learn of sends.

The pipeline is not a MULTI/EXEC transaction by default: atomicity would buy nothing here.
If Redis fails mid-batch some tasks may be stored, the bridge does not commit the offsets
and replays the batch; the replayed tasks carry the same ids and the worker's sent-ledger
makes the copies no-ops (docs/design.md, invariant 2) -- exactly as with one ``send_task``
per message.
MULTI would add two commands and make Redis hold and run the whole batch as one blocking
unit. Pass ``transaction=True`` to get all-or-nothing batches anyway.

``argsrepr``/``kwargsrepr`` are Celery's ``saferepr`` of the arguments, reproduced
character for character (a faithful, faster port below, with Celery's own function as the
fallback for types it does not cover). Notifications never carry credentials
(docs/design.md, invariant 6), so the repr Flower shows holds none.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from json.encoder import encode_basestring_ascii
from typing import get_type_hints
from urllib.parse import urlparse

import redis
from celery import Celery
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr as celery_saferepr
from celery.utils.time import utcoffset
from kombu.transport.redis import Channel as RedisChannel
from kombu.utils.json import dumps as kombu_dumps
from kombu.utils.url import parse_url

from contract.notification import Notification
from contract.queues import queue_for

_EMBED = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}'
_DELIVERY_MODES = {"persistent": 2, "transient": 1}

# The JSON kombu's Redis transport stores, as json.dumps writes the dicts Celery builds
# (key order, ", " and ": " separators, ASCII escapes; values marked %(...)s are JSON
# already). Filling a template costs a few microseconds where json.dumps of the nested
# dicts costs tens; the integration test compares the result with send_task's, byte for
# byte. A task (celery.app.amqp.as_task_v2 + kombu's envelope):
_TASK_MESSAGE = (
    '{"body": "%(body)s", "content-encoding": "utf-8", "content-type": "application/json", '
    '"headers": {"lang": "py", "task": %(name)s, "id": %(id)s, "shadow": null, "eta": null, '
    '"expires": null, "group": null, "group_index": null, "retries": 0, '
    '"timelimit": [null, null], "root_id": %(id)s, "parent_id": null, '
    '"argsrepr": %(argsrepr)s, "kwargsrepr": %(kwargsrepr)s, "origin": %(origin)s, '
    '"ignore_result": true, "replaced_task_nesting": 0, "stamped_headers": null, '
    '"stamps": {}}, "properties": {"correlation_id": %(id)s, "reply_to": %(reply_to)s, '
    '"delivery_mode": %(delivery_mode)s, "delivery_info": {"exchange": "", '
    '"routing_key": %(name)s}, "priority": 0, "body_encoding": "base64", '
    '"delivery_tag": "%(tag)s"}}'
)
# The task-sent event (celery.events.dispatcher + the sent_event fields of as_task_v2)...
_SENT_EVENT = (
    '%(head)s, "clock": %(clock)d, "uuid": %(id)s, "root_id": %(id)s, "parent_id": null, '
    '"name": %(name)s, "args": %(argsrepr)s, "kwargs": %(kwargsrepr)s, "retries": 0, '
    '"eta": null, "expires": null, "queue": %(name)s, "exchange": "", '
    '"routing_key": %(name)s, "timestamp": %(timestamp)s, "type": "task-sent"}'
)
# ... in its envelope, as published on the fanout exchange.
_EVENT_MESSAGE = (
    '{"body": "%(body)s", "content-encoding": "utf-8", "content-type": "application/json", '
    '"headers": {"hostname": %(hostname)s}, "properties": {"delivery_mode": 1, '
    '"delivery_info": {"exchange": %(exchange)s, "routing_key": "task.sent"}, "priority": 0, '
    '"body_encoding": "base64", "delivery_tag": "%(tag)s"}}'
)
_NOTIFICATION_FIELDS = tuple(f.name for f in fields(Notification))
# Fields holding a dataclass of scalars (``source``): asdict() makes them dicts, so must we.
_NESTED_FIELDS = {
    name: tuple(f.name for f in fields(hint))
    for name, hint in get_type_hints(Notification).items()
    if is_dataclass(hint)
}


def _q(text: str) -> str:
    """A JSON string literal, as json.dumps writes it (ASCII, escaped, in double quotes)."""
    return str(encode_basestring_ascii(text))


class UnsupportedConfiguration(ValueError):
    """The app is configured in a way this publisher cannot reproduce byte for byte."""


def notification_args(notification: Notification) -> dict[str, object]:
    """``notification.to_dict()`` without the deep copy (same keys, same order, same JSON)."""
    data: dict[str, object] = {name: getattr(notification, name) for name in _NOTIFICATION_FIELDS}
    for name, nested in _NESTED_FIELDS.items():
        value = data[name]
        data[name] = {key: getattr(value, key) for key in nested}
    # Plain text, as to_dict() gives: saferepr's fast path takes exact str only.
    data["transition"] = str(notification.transition)
    if not notification.links:
        del data["links"]  # as to_dict(): an older worker refuses the key (rolling upgrades)
    return data


# kombu's encoder is unannotated; this typed view says what it takes and gives.
_kombu_dumps: Callable[[object], object] = kombu_dumps


def _dumps(value: object) -> str:
    """JSON as kombu's serializer writes it: the stdlib's text, kombu's encoder for the rest."""
    try:
        return json.dumps(value)
    except TypeError:
        return str(_kombu_dumps(value))


# -- Celery's saferepr, faster --------------------------------------------------------------
#
# celery.utils.saferepr streams tokens through generators and namedtuples (~190 us for one
# notification, more than everything else here together). For the JSON-like values a task
# carries (dict, list, str, int, float, bool, None) the same text is computed below: first
# without limits, which is the answer whenever it is shorter than ``maxlen``; else by a
# port of the truncating walk. Other types fall back to Celery's function.


class _Unsupported(Exception):
    """A value this port does not render; use Celery's saferepr."""


class _Full(Exception):
    """The length budget ran out; the output is complete."""


def _truncate(text: str, maxlen: int) -> str:
    # celery.utils.text.truncate
    if maxlen and len(text) >= maxlen:
        return text[:maxlen].rsplit(" ", 1)[0] + "..."
    return text


def _quote(text: str) -> str:
    return "'" + text.replace("'", "\\'") + "'"


def _scalar_text(value: object) -> str:
    kind = type(value)
    if kind is int or kind is float or kind is bool:
        return str(value)
    if value is None:
        return "None"
    raise _Unsupported


def _plain(value: object, depth: int, maxlevels: int, out: list[str]) -> None:
    """Append the repr without a length limit (inner loop unrolled for leaves: it is hot)."""
    # ``type(x) is C`` (not isinstance): exact types only, anything else is Celery's to
    # render; mypy narrows on it too.
    if type(value) is str:
        out.append(_quote(value))
    elif type(value) is dict:
        if maxlevels and depth >= maxlevels:
            out.append("{...}")
            return
        items: dict[object, object] = value
        inner = depth + 1
        out.append("{")
        first = True
        for key, item in items.items():
            if first:
                first = False
            else:
                out.append(", ")
            if type(key) is str:
                out.append("'" + key.replace("'", "\\'") + "': ")
            else:
                out.append(_scalar_text(key) + ": ")
            if type(item) is str:
                out.append("'" + item.replace("'", "\\'") + "'")
                continue
            leaf = type(item)
            if leaf is int or leaf is float or leaf is bool:
                out.append(str(item))
            elif item is None:
                out.append("None")
            else:
                _plain(item, inner, maxlevels, out)
        out.append("}")
    elif type(value) is list:
        if maxlevels and depth >= maxlevels:
            out.append("[...]")
            return
        values: list[object] = value
        inner = depth + 1
        out.append("[")
        first = True
        for item in values:
            if first:
                first = False
            else:
                out.append(", ")
            _plain(item, inner, maxlevels, out)
        out.append("]")
    else:
        out.append(_scalar_text(value))


class _Truncating:
    """The walk of ``celery.utils.saferepr._saferepr`` with a length budget."""

    def __init__(self, maxlen: int, maxlevels: int) -> None:
        self.out: list[str] = []
        self.left = maxlen
        self.maxlevels = maxlevels
        self.closers: list[str] = []

    def _overflow(self) -> None:
        # Celery prints ", ..." and then the closing brackets of every open container.
        self.out.append(", ...")
        self.out.extend(reversed(self.closers))
        raise _Full

    def literal(self, text: str) -> None:
        if self.left <= 0:
            self._overflow()
        self.out.append(text)
        self.left -= len(text)

    def open(self, opener: str, closer: str) -> None:
        self.literal(opener)
        self.closers.append(closer)

    def close(self) -> None:
        # A closing bracket is shown even past the budget, and then not counted.
        closer = self.closers.pop()
        self.out.append(closer)
        if self.left > 0:
            self.left -= len(closer)

    def text(self, text: str, quoted: bool) -> None:
        if self.left <= 0:
            self._overflow()
        shown = _truncate(text, self.left)
        if quoted:
            shown = _quote(shown)
        self.out.append(shown)
        self.left -= len(shown)

    def value(self, value: object, depth: int) -> None:
        kind = type(value)
        if type(value) is str:
            self.text(value, quoted=True)
        elif kind is dict or kind is list:
            opener, closer = ("{", "}") if kind is dict else ("[", "]")
            if self.maxlevels and depth >= self.maxlevels:
                self.literal(f"{opener}...{closer}")
                return
            self.open(opener, closer)
            if type(value) is dict:
                items: dict[object, object] = value
                last = len(items) - 1
                for index, (key, item) in enumerate(items.items()):
                    if type(key) is str:
                        self.text(key, quoted=True)
                    else:
                        self.text(_scalar_text(key), quoted=False)
                    self.literal(": ")
                    self.value(item, depth + 1)
                    if index < last:
                        self.literal(", ")
            elif type(value) is list:
                values: list[object] = value
                last = len(values) - 1
                for index, item in enumerate(values):
                    self.value(item, depth + 1)
                    if index < last:
                        self.literal(", ")
            self.close()
        else:
            self.text(_scalar_text(value), quoted=False)


def saferepr(value: object, maxlen: int, maxlevels: int) -> str:
    """``celery.utils.saferepr.saferepr(value, maxlen, maxlevels)``, the same text, faster."""
    if maxlen <= 0 or maxlevels < 0:
        return str(celery_saferepr(value, maxlen, maxlevels))
    try:
        parts: list[str] = []
        _plain(value, 0, maxlevels, parts)
        plain = "".join(parts)
        if len(plain) < maxlen:
            return plain
        walk = _Truncating(maxlen, maxlevels)
        with contextlib.suppress(_Full):
            walk.value(value, 0)
        return "".join(walk.out)
    except (_Unsupported, RecursionError):
        return str(celery_saferepr(value, maxlen, maxlevels))


# -- the publisher ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Batch:
    """JSON pieces shared by the messages of one batch."""

    origin: str
    reply_to: str
    hostname: str
    event_head: str


class _Route:
    """Where the tasks of one queue go, as send_task routes them (anon exchange, direct)."""

    def __init__(self, queue: str, sep: str) -> None:
        self.queue = queue
        self.name = _q(queue)  # the task name, the routing key and the queue are one string
        self.binding_key = RedisChannel.keyprefix_queue % (queue,)
        self.permanent_key = RedisChannel.keyprefix_binding_permanent % (queue,)
        # (routing_key, pattern, queue) of the queue's binding to its own direct exchange.
        self.binding_member = sep.join([queue, "", queue])


class PipelinedPublisher:
    """A ``Publisher`` that writes ``send_task``'s messages for a batch in one pipeline."""

    def __init__(
        self, app: Celery, redis_client: redis.Redis, *, transaction: bool = False
    ) -> None:
        self.app = app
        self.redis = redis_client
        self.transaction = transaction
        conf = app.conf
        self._check(app)
        options = dict(conf.broker_transport_options or {})
        self.sep: str = options.get("sep", RedisChannel.sep)
        delivery_mode = conf.task_default_delivery_mode
        self.delivery_mode = str(int(_DELIVERY_MODES.get(delivery_mode, delivery_mode)))
        self.argsrepr_maxsize: int = app.amqp.argsrepr_maxsize
        self.kwargsrepr_maxsize: int = app.amqp.kwargsrepr_maxsize
        self.repr_maxlevels: int = conf.task_repr_maxlevels
        self.kwargsrepr = _q(saferepr({}, self.kwargsrepr_maxsize, self.repr_maxlevels))
        self.send_sent_event: bool = bool(conf.task_send_sent_event)
        self.event_exchange: str = conf.event_exchange
        self.event_topic = self._event_topic(options)
        self.event_exchange_json = _q(self.event_exchange)
        self._routes: dict[str, _Route] = {}

    @staticmethod
    def _check(app: Celery) -> None:
        conf = app.conf
        problems = []
        scheme = urlparse(str(conf.broker_url or "")).scheme
        if scheme not in ("redis", "rediss"):
            problems.append(f"broker scheme {scheme!r} (needs redis:// or rediss://)")
        if conf.task_serializer != "json":
            problems.append(f"task_serializer={conf.task_serializer!r} (needs json)")
        if conf.event_serializer != "json":
            problems.append(f"event_serializer={conf.event_serializer!r} (needs json)")
        if conf.task_compression:
            problems.append(f"task_compression={conf.task_compression!r} (needs none)")
        if int(conf.task_protocol) != 2:
            problems.append(f"task_protocol={conf.task_protocol!r} (needs 2)")
        if (conf.broker_transport_options or {}).get("global_keyprefix"):
            problems.append("broker_transport_options.global_keyprefix is set")
        if problems:
            raise UnsupportedConfiguration(
                "PipelinedPublisher cannot write what send_task would: " + "; ".join(problems)
            )

    def _event_topic(self, options: Mapping[str, object]) -> str:
        """The PUB/SUB channel kombu's Redis fanout exchange uses for ``task-sent``."""
        prefix_option = options.get("fanout_prefix", RedisChannel.fanout_prefix)
        if isinstance(prefix_option, str):
            prefix = prefix_option
        elif prefix_option:
            prefix = RedisChannel.keyprefix_fanout
        else:
            prefix = ""
        prefix = prefix.format(db=self._broker_db())
        if options.get("fanout_patterns", RedisChannel.fanout_patterns):
            return f"{prefix}{self.event_exchange}/task.sent"
        return f"{prefix}{self.event_exchange}"

    def _broker_db(self) -> int:
        """The broker's Redis database number; the given client must use the same one."""
        vhost = str(parse_url(str(self.app.conf.broker_url)).get("virtual_host") or "0")
        broker_db = int(vhost.strip("/") or 0)
        client_db = int(self.redis.connection_pool.connection_kwargs.get("db", 0) or 0)
        if client_db != broker_db:
            raise UnsupportedConfiguration(
                f"the Redis client uses database {client_db}, the broker {broker_db}"
            )
        return broker_db

    def _route(self, queue: str) -> _Route:
        route = self._routes.get(queue)
        if route is None:
            declared = self.app.amqp.queues[queue]  # created like send_task creates it
            exchange = declared.exchange
            if exchange is not None and exchange.type != "direct":
                raise UnsupportedConfiguration(
                    f"queue {queue!r} is bound to a {exchange.type} exchange (needs direct)"
                )
            if declared.expires is not None or declared.message_ttl is not None:
                raise UnsupportedConfiguration(f"queue {queue!r} has expires/message_ttl set")
            route = self._routes[queue] = _Route(queue, self.sep)
        return route

    # -- building messages ----------------------------------------------------------------

    def batch_context(self) -> _Batch:
        """What every message of one batch shares (origin node name, reply_to, pid, ...)."""
        origin = _q(anon_nodename())
        return _Batch(
            origin=origin,
            reply_to=_q(str(self.app.thread_oid)),
            hostname=origin,
            event_head=(
                f'{{"hostname": {origin}, "utcoffset": {json.dumps(utcoffset())}, '
                f'"pid": {os.getpid()}'
            ),
        )

    def task_message(self, notification: Notification, batch: _Batch) -> tuple[str, str]:
        """(the JSON kombu stores in the queue list, the quoted argsrepr) for one task."""
        route = self._route(queue_for(notification.channel))
        args = [notification_args(notification)]
        argsrepr = _q(saferepr(args, self.argsrepr_maxsize, self.repr_maxlevels))
        body = "[" + _dumps(args) + ", {}, " + _EMBED + "]"
        message = _TASK_MESSAGE % {
            "body": base64.b64encode(body.encode()).decode("ascii"),
            "name": route.name,
            "id": _q(notification.id),
            "argsrepr": argsrepr,
            "kwargsrepr": self.kwargsrepr,
            "origin": batch.origin,
            "reply_to": batch.reply_to,
            "delivery_mode": self.delivery_mode,
            "tag": uuid.uuid4(),
        }
        return message, argsrepr

    def sent_event(self, notification: Notification, argsrepr: str, batch: _Batch) -> str:
        """The ``task-sent`` event message Celery's dispatcher publishes for one task."""
        route = self._route(queue_for(notification.channel))
        event = _SENT_EVENT % {
            "head": batch.event_head,
            "clock": self.app.clock.forward(),
            "id": _q(notification.id),
            "name": route.name,
            "argsrepr": argsrepr,
            "kwargsrepr": self.kwargsrepr,
            "timestamp": repr(time.time()),
        }
        return _EVENT_MESSAGE % {
            "body": base64.b64encode(event.encode()).decode("ascii"),
            "hostname": batch.hostname,
            "exchange": self.event_exchange_json,
            "tag": uuid.uuid4(),
        }

    # -- publishing -----------------------------------------------------------------------

    def publish(self, notifications: Sequence[Notification]) -> None:
        """Store every task of the batch in Redis (one round trip); raise on any failure."""
        if not notifications:
            return
        batch = self.batch_context()
        by_queue: dict[str, list[str]] = {}
        events: list[str] = []
        for notification in notifications:
            message, argsrepr = self.task_message(notification, batch)
            by_queue.setdefault(queue_for(notification.channel), []).append(message)
            if self.send_sent_event:
                events.append(self.sent_event(notification, argsrepr, batch))
        pipe = self.redis.pipeline(transaction=self.transaction)
        for queue, messages in by_queue.items():
            route = self._route(queue)
            pipe.sadd(route.binding_key, route.binding_member)
            pipe.sadd(route.permanent_key, route.binding_member)
            pipe.lpush(queue, *messages)
        for event in events:
            pipe.publish(self.event_topic, event)
        pipe.execute()
