"""What the periodic sweep does for muting: notices when silences end, catch-up summaries.

Both are idempotent, so two sweepers (or a sweep that dies half-way) never send one twice:

- a silence that ended is handled once (``klaxon:silences:swept``); for each alert it
  covered that still fires (``klaxon:alerts:active``) and no other silence covers, one
  notice, claimed with ``SET NX`` on ``klaxon:silence-ended:<silence>:<alert>:<channel>``
  and sent under an id derived from the same three;
- what a mute interval held back for a ``catch_up`` rule is taken atomically (a Lua
  LRANGE + DEL) once the rule is outside all its mute intervals, and summarised in one
  notification per rule and channel.

The claim comes before the enqueue: a sweeper killed between the two loses that notice,
it never sends it twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

import redis

from alerts.muting.records import (
    CATCH_UP_PENDING_KEY,
    MARKER_TTL_SECONDS,
    catch_up_key,
    covered_key,
)
from alerts.muting.silences import SilenceMuter, SilenceStore
from alerts.store import ACTIVE_KEY
from contract.channels import CHANNELS
from contract.notification import Notification, Source, TransitionKind, notification_id
from contract.redis_replies import text_fields, texts
from rules.model import BaseRule

SWEPT_KEY = "klaxon:silences:swept"
# Ended silences are listed for this long, then forgotten.
KEEP_ENDED_SECONDS = 7 * 24 * 3600
# A summary lists this many held-back messages, then counts the rest.
SUMMARY_LINES = 20

_TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return items
"""


def silence_end_notices(client: redis.Redis, now: float) -> list[Notification]:
    """One notice per (ended silence, alert still firing, channel); each silence once."""
    store = SilenceStore(client)
    others = SilenceMuter(store, refresh=0.0)
    swept = set(texts(client.smembers(SWEPT_KEY)))
    notices: list[Notification] = []
    for silence in store.all():
        if silence.ends_at > now or silence.id in swept:
            continue
        covered = text_fields(client.hgetall(covered_key(silence.id)))
        for member, raw in sorted(covered.items()):
            alert_id, channel = member.rsplit("|", 1)
            if not client.hexists(ACTIVE_KEY, alert_id):
                continue
            silenced = Notification.from_dict(json.loads(raw))
            if others.mutes(silenced, now) is not None:
                continue  # still quiet under another silence: nothing to announce yet
            marker = f"klaxon:silence-ended:{silence.id}:{alert_id}:{channel}"
            if not client.set(marker, "1", nx=True, ex=MARKER_TTL_SECONDS):
                continue
            text = f"Silence {silence.id} ended; still firing: "
            notices.append(
                _derived(
                    silenced,
                    Source(f"klaxon.silence-ended/{silence.id}/{alert_id}", 0, 0),
                    TransitionKind.SILENCE_ENDED,
                    text + silenced.message,
                    now,
                )
            )
        client.sadd(SWEPT_KEY, silence.id)
        client.delete(covered_key(silence.id))
    forgotten = [s.id for s in store.all() if s.ends_at <= now - KEEP_ENDED_SECONDS]
    store.forget(forgotten)
    if forgotten:
        client.srem(SWEPT_KEY, *forgotten)
    return notices


def catch_up_summaries(
    client: redis.Redis, rules: Mapping[str, BaseRule], now: float
) -> list[Notification]:
    """One summary per (rule, channel) whose mute interval is over and held something back."""
    summaries: list[Notification] = []
    take = client.register_script(_TAKE)
    for member in sorted(texts(client.smembers(CATCH_UP_PENDING_KEY))):
        rule_id, channel = member.rsplit("|", 1)
        rule = rules.get(rule_id)
        if rule is not None and any(i.contains(now) for i in rule.mute_time_intervals):
            continue  # still muted: keep holding
        items = texts(take(keys=[catch_up_key(member), CATCH_UP_PENDING_KEY], args=[member]))
        if rule is None or channel not in rule.channels or not items:
            continue
        held = list({h["id"]: h for h in map(json.loads, items)}.values())  # replays once
        summaries.append(_summary(rule, channel, held, now))
    return summaries


def _summary(rule: BaseRule, channel: str, held: list[dict[str, str]], now: float) -> Notification:
    names = ", ".join(i.name for i in rule.mute_time_intervals)
    count = len(held)
    lines = [f"{rule.name}: {count} notification(s) held back during {names}:"]
    lines += [f"- {h['at']}: {h['message']}" for h in held[:SUMMARY_LINES]]
    if count > SUMMARY_LINES:
        lines.append(f"... and {count - SUMMARY_LINES} more")
    message = "\n".join(lines)
    source = Source(f"klaxon.catch-up/{rule.id}/{held[0]['id']}", 0, 0)
    recipients = rule.recipients.get(channel)
    return Notification(
        id=notification_id(source.topic, 0, 0, rule.id, channel, TransitionKind.CATCH_UP),
        channel=channel,
        rule_id=rule.id,
        rule_name=rule.name,
        priority=rule.priority,
        message=message,
        subject=f"[{rule.priority}] {rule.name}: {count} held back during {names}",
        event={"held_back": count, "first_at": held[0]["at"], "last_at": held[-1]["at"]},
        matched_at=_iso(now),
        source=source,
        transition=TransitionKind.CATCH_UP,
        recipients=list(recipients) if recipients else None,
        variants=_variants(channel, message),
    )


def _derived(
    original: Notification, source: Source, kind: TransitionKind, message: str, now: float
) -> Notification:
    return Notification(
        id=notification_id(source.topic, 0, 0, original.rule_id, original.channel, kind),
        channel=original.channel,
        rule_id=original.rule_id,
        rule_name=original.rule_name,
        priority=original.priority,
        message=message,
        subject=original.subject,
        event=original.event,
        matched_at=_iso(now),
        source=source,
        transition=kind,
        recipients=original.recipients,
        variants=_variants(original.channel, message),
        alert=original.alert,
    )


def _variants(channel: str, message: str) -> dict[str, str]:
    spec = CHANNELS.get(channel)
    return {name: escape(message) for name, escape in spec.variants.items()} if spec else {}


def _iso(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).isoformat()
