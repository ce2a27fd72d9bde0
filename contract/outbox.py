"""The outbox: what happened, appended to one Redis stream for the recorder to keep in SQL.

The bridge, the workers (and the ack, silence and escalation code) never write the database
on their hot path. They append one entry per outcome to the stream ``klaxon:outbox``;
``klaxon recorder`` (``history.recorder``) moves the entries into the database in batches
and acknowledges them only after the commit (docs/history.md).

An entry has three fields:

    kind   what happened: one of ``Kind`` (others are kept as alert timeline entries)
    key    the idempotency key: the same outcome appended twice (a replay) carries the
           same key, so the recorder's upsert keeps one row; empty means "this entry"
    data   a JSON object, the outcome's fields (times are Unix seconds, floats)

The stream is capped with ``XADD MAXLEN ~ OUTBOX_MAXLEN``: while the database is down the
outbox grows to about that many entries, after which the oldest unrecorded ones are lost
(history only: delivery itself never depends on the outbox).

This module is the only owner of the stream's name, cap and entry format. Lua scripts that
change state and append in the same atomic step (``alerts.acks``, ``alerts.followups``)
prepend ``LUA_APPEND``, generated below from the same constants.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum

import orjson
import redis
from redis.client import Pipeline
from redis.typing import EncodableT, FieldT

from contract.jsonsafe import JsonObject
from contract.notification import Notification

log = logging.getLogger(__name__)

OUTBOX_STREAM = "klaxon:outbox"
# About 1 KiB an entry: the bound keeps a long database outage under ~1 GiB of Redis.
OUTBOX_MAXLEN = 1_000_000
KIND_FIELD = "kind"
KEY_FIELD = "key"
DATA_FIELD = "data"


class Kind(StrEnum):
    """The kinds of outbox entries the recorder understands."""

    ALERT = "alert"  # an alert event's trigger or resolve (the seed's AlertEvent fields)
    NOTIFICATION = "notification"  # a notification's status: queued, silenced, grouped, ...
    ATTEMPT = "attempt"  # one delivery attempt: started, then failed or sent
    ACK = "ack"
    UNACK = "unack"
    REJECT = "reject"
    ESCALATION = "escalation"
    REMINDER = "reminder"
    SILENCE = "silence"  # the silences audit trail: created, expired


class NotificationStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    RETRYING = "retrying"
    DEAD = "dead"
    SILENCED = "silenced"
    MUTED = "muted"
    INHIBITED = "inhibited"
    GROUPED = "grouped"
    FALLBACK = "fallback"


class AttemptOutcome(StrEnum):
    STARTED = "started"
    FAILED = "failed"
    SENT = "sent"


@dataclass(frozen=True)
class Record:
    """One outbox entry, before it is appended."""

    kind: str
    data: JsonObject
    key: str = ""

    def fields(self) -> dict[FieldT, EncodableT]:
        fields: dict[FieldT, EncodableT] = {
            KIND_FIELD: self.kind.encode(),
            KEY_FIELD: self.key.encode(),
            DATA_FIELD: orjson.dumps(self.data),
        }
        return fields

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Record:
        """Decode a stream entry; raises ValueError naming what is wrong."""
        try:
            kind = fields[KIND_FIELD.encode()].decode()
            data = orjson.loads(fields[DATA_FIELD.encode()])
        except KeyError as exc:
            raise ValueError(f"outbox entry has no {exc.args[0]!r} field") from None
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"outbox entry {kind!r}: data is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"outbox entry {kind!r}: data is not a JSON object")
        return cls(kind=kind, data=data, key=fields.get(KEY_FIELD.encode(), b"").decode())


# Prepended to a Lua script that appends in the same atomic step as its state change; the
# script passes OUTBOX_STREAM among its KEYS. ``outbox_alert_action`` writes the data of
# ``alert_action`` below: alert_id, actor, note, at (a number), then the detail's fields.
# cjson writes numbers with 14 significant digits: ``at`` keeps 0.1 ms, enough for a timeline.
LUA_APPEND = f"""
local function outbox_append(stream, kind, key, data)
  redis.call('XADD', stream, 'MAXLEN', '~', {OUTBOX_MAXLEN}, '*',
             '{KIND_FIELD}', kind, '{KEY_FIELD}', key, '{DATA_FIELD}', cjson.encode(data))
end
local function outbox_alert_action(stream, kind, key, alert_id, actor, note, at, detail)
  local data = {{alert_id = alert_id, actor = actor, note = note, at = tonumber(at)}}
  for name, value in pairs(detail) do data[name] = value end
  outbox_append(stream, kind, key, data)
end
"""


# A redis-py client, or a pipeline (the append is then sent with the pipeline's commands).
StreamWriter = redis.Redis | Pipeline


def append(client: StreamWriter, record: Record) -> None:
    """Append one record (on a pipeline: queued with the pipeline's other commands)."""
    client.xadd(OUTBOX_STREAM, record.fields(), maxlen=OUTBOX_MAXLEN, approximate=True)


def append_many(client: StreamWriter, records: list[Record]) -> None:
    for record in records:
        append(client, record)


def _now(at: float | None) -> float:
    return time.time() if at is None else at


def notification_queued(
    notification_id: str,
    rule_id: str,
    channel: str,
    recipients: list[str] | None,
    transition: str,
    alert_id: str | None = None,
    at: float | None = None,
) -> Record:
    """The bridge put a notification on its queue (a replay carries the same key)."""
    return Record(
        Kind.NOTIFICATION,
        {
            "id": notification_id,
            "status": NotificationStatus.QUEUED.value,
            "rule_id": rule_id,
            "channel": channel,
            "recipients": list(recipients) if recipients else [],
            "transition": transition,
            "alert_id": alert_id,
            "at": _now(at),
        },
        key=f"{notification_id}:queued",
    )


def notification_status(
    notification_id: str,
    status: NotificationStatus,
    reason: str = "",
    rule_id: str | None = None,
    channel: str | None = None,
    at: float | None = None,
    *,
    transition: str | None = None,
    alert_id: str | None = None,
    ref: str = "",
) -> Record:
    """A notification's status changed without an attempt (silenced, muted, grouped, ...).

    A muted notification was never queued: this record is all the history has of it, so
    it also carries its transition, its alert and ``ref`` (the silence id, interval name
    or inhibiting alert that muted it).
    """
    return Record(
        Kind.NOTIFICATION,
        {
            "id": notification_id,
            "status": status.value,
            "reason": reason,
            "rule_id": rule_id,
            "channel": channel,
            "transition": transition,
            "alert_id": alert_id,
            "ref": ref,
            "at": _now(at),
        },
    )


def attempt(
    notification_id: str,
    attempt_id: str,
    outcome: AttemptOutcome,
    *,
    status: NotificationStatus | None = None,
    error: str = "",
    reason: str = "",
    at: float | None = None,
) -> Record:
    """One delivery attempt: ``started``, then ``failed`` (with the error) or ``sent``.

    ``attempt_id`` is the worker's id for this run of the task; ``status`` is the
    notification's status after the attempt (retrying, dead, sent).
    """
    return Record(
        Kind.ATTEMPT,
        {
            "notification_id": notification_id,
            "attempt_id": attempt_id,
            "outcome": outcome.value,
            "status": None if status is None else status.value,
            "error": error,
            "reason": reason,
            "at": _now(at),
        },
        key=f"{attempt_id}:{outcome.value}",
    )


def alert_event(event: JsonObject, transition: str) -> Record:
    """An alert's trigger or resolve: ``event`` holds the seed's AlertEvent fields."""
    alert_id = str(event["id"])
    return Record(
        Kind.ALERT, {"event": event, "transition": transition}, key=f"{alert_id}:{transition}"
    )


def alert_action(
    kind: Kind,
    alert_id: str,
    actor: str = "",
    note: str = "",
    at: float | None = None,
    key: str = "",
    **detail: str | float | None,
) -> Record:
    """An ack, unack, reject, escalation step or reminder on one alert's timeline."""
    return Record(
        kind,
        {"alert_id": alert_id, "actor": actor, "note": note, "at": _now(at), **detail},
        key=key,
    )


def silence_audit(
    silence_id: str,
    action: str,
    actor: str = "",
    matchers: JsonObject | None = None,
    reason: str = "",
    at: float | None = None,
) -> Record:
    """A silence was created, changed or expired: one line of the audit trail."""
    when = _now(at)
    return Record(
        Kind.SILENCE,
        {
            "silence_id": silence_id,
            "action": action,
            "actor": actor,
            "matchers": matchers or {},
            "reason": reason,
            "at": when,
        },
        key=f"{silence_id}:{action}:{when!r}",
    )


def queued(notification: Notification) -> Record:
    """The queued record of a notification the bridge is about to enqueue."""
    alert = notification.alert or {}
    alert_id = alert.get("id")
    return notification_queued(
        notification.id,
        notification.rule_id,
        notification.channel,
        notification.recipients,
        str(notification.transition),
        alert_id=None if alert_id is None else str(alert_id),
    )


def append_batch(client: redis.Redis, records: list[Record]) -> None:
    """Append several records in one round trip (no transaction: each entry stands alone)."""
    if not records:
        return
    pipe = client.pipeline(transaction=False)
    append_many(pipe, records)
    pipe.execute()


def append_best_effort(client: redis.Redis, records: list[Record], what: str) -> bool:
    """``append_batch`` where the outbox only feeds the history: a failure is logged (``what``
    says what goes on without it) and False is returned, never raised."""
    try:
        append_batch(client, records)
    except redis.RedisError as exc:
        log.warning("outbox append failed (%s): %r", what, exc)
        return False
    return True
