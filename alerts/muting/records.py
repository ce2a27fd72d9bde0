"""What a muted notification leaves behind in Redis, written in one round trip.

    klaxon:outbox                          stream  one record per muted notification, kind
                                                   "notification" with its status, reason
                                                   and ref (contract.outbox owns the
                                                   stream and the record format)
    klaxon:muted-alert:<alert>:<channel>   string  the status that muted an alert's trigger
                                                   (its resolve is then muted too, unless the
                                                   rule sets resolve_when_silenced)
    klaxon:silence:<id>:covered            hash    "<alert>|<channel>" -> the silenced trigger
                                                   (for the notice when the silence ends)
    klaxon:catchup:<rule>|<channel>        list    what a catch_up mute interval held back
    klaxon:catchup:pending                 set     "<rule>|<channel>" with something held

A replayed batch writes the same records again: the outbox may carry a notification id
twice (its reader keeps the last), the rest is keyed by id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import redis

from alerts.muting.muter import Muted, Status, alert_id_of
from contract import outbox
from contract.notification import Notification, TransitionKind

CATCH_UP_PENDING_KEY = "klaxon:catchup:pending"
MARKER_TTL_SECONDS = 90 * 24 * 3600
# What opens an alert: its trigger (or no-data alert) muted means its resolve is unheard of.
OPENING = (TransitionKind.TRIGGER, TransitionKind.NO_DATA)
# What a silence "covered": the notice at its end is owed for these too.
FIRING = (*OPENING, TransitionKind.REMINDER)


def muted_alert_key(alert_id: str, channel: str) -> str:
    return f"klaxon:muted-alert:{alert_id}:{channel}"


def covered_key(silence_id: str) -> str:
    return f"klaxon:silence:{silence_id}:covered"


def catch_up_key(member: str) -> str:
    return f"klaxon:catchup:{member}"


def catch_up_member(rule_id: str, channel: str) -> str:
    # Rule ids and channel names never hold "|" (rules.loader's id pattern).
    return f"{rule_id}|{channel}"


def record_muted(
    client: redis.Redis, muted: Sequence[tuple[Notification, Muted]], now: float
) -> None:
    """Write what each muted notification leaves behind (the caller counts it)."""
    if not muted:
        return
    at = dt.datetime.fromtimestamp(now, dt.UTC).isoformat()
    pipe = client.pipeline(transaction=False)
    for notification, why in muted:
        alert_id = alert_id_of(notification)
        record = outbox.notification_status(
            notification.id,
            outbox.NotificationStatus(str(why.status)),
            why.reason,
            rule_id=notification.rule_id,
            channel=notification.channel,
            at=now,
            transition=str(notification.transition),
            alert_id=alert_id,
            ref=why.ref,
        )
        outbox.append(pipe, record)
        if alert_id is not None and notification.transition in OPENING:
            pipe.set(
                muted_alert_key(alert_id, notification.channel),
                str(why.status),
                ex=MARKER_TTL_SECONDS,
            )
        if (
            alert_id is not None
            and notification.transition in FIRING
            and why.status == Status.SILENCED
        ):
            pipe.hset(
                covered_key(why.ref),
                f"{alert_id}|{notification.channel}",
                json.dumps(notification.to_dict()),
            )
            pipe.expire(covered_key(why.ref), MARKER_TTL_SECONDS)
        if why.held_for_catch_up:
            member = catch_up_member(notification.rule_id, notification.channel)
            held = {"id": notification.id, "message": notification.message, "at": at}
            pipe.rpush(catch_up_key(member), json.dumps(held))
            pipe.sadd(CATCH_UP_PENDING_KEY, member)
    pipe.execute()
