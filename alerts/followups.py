"""The sweep's follow-ups: reminders and escalation steps that fell due, sent at most once.

Each sweep (``tasks.sweep``) takes the members of ``klaxon:alerts:due`` scored at or
before now, in two steps with the publish between them:

1. ``plan``: read each item's alert; an alert no longer open (acknowledged, rejected,
   resolved, gone) or a rule no longer asking for it drops the item; the rest become
   notifications whose ids derive from (alert, follow-up), the same in every sweep;
2. the caller publishes them;
3. ``advance``: one Lua script per item removes it (ZREM), schedules the next reminder,
   appends the history and outbox entries and counts it, only if the item was still
   there. Of two sweeps, or a sweep and its rerun after a SIGKILL, one advances; the
   other's tasks carry the same ids, and the workers' sent-ledger (docs/design.md,
   invariant 2) sends them once.

A step fires once, and only if the alert is still open when it is due (an ack after it
fired does not take it back). What acknowledgement stops, it stops at the next sweep.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import redis

from alerts.acks import COUNTS_KEY, AckBook, AckState, history_key, record_key
from alerts.due import DUE_KEY, DueItem, FollowUp, reminder_gap
from alerts.humanize import duration
from contract.ack_links import LinkSigner
from contract.notification import Notification, Source, TransitionKind
from contract.outbox import LUA_APPEND, OUTBOX_STREAM
from contract.redis_replies import text
from rules.compose import compose
from rules.model import BaseRule

# How many due items one sweep takes: the rest wait for the next one.
SWEEP_LIMIT = 1000

_ADVANCE = (
    LUA_APPEND
    + """
local due, key, history, outbox, counts = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local member, kind, number, at = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local next_member, next_score, alert_id, rule_id = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if redis.call('ZREM', due, member) == 0 then return 0 end
if next_member ~= '' and redis.call('HGET', key, 'state') then
  redis.call('ZADD', due, next_score, next_member)
  redis.call('HSET', key, 'next_reminder', tonumber(number) + 1)
end
local entry = {action = kind, at = tonumber(at)}
entry[kind] = tonumber(number)
redis.call('RPUSH', history, cjson.encode(entry))
-- Keyed by (alert, follow-up): the same one is only ever one line of the timeline. Its
-- step counts from 1: the reminder's number, the escalation step's place in the rule.
local step = tonumber(number)
if kind == 'escalation' then step = step + 1 end
outbox_alert_action(outbox, kind, member, alert_id, 'klaxon', '', at,
                    {rule_id = rule_id, step = step})
redis.call('HINCRBY', counts, kind .. ':' .. rule_id, 1)
return 1
"""
)


@dataclass(frozen=True)
class Planned:
    """One due item to send: its notifications, and where its alert's next reminder goes."""

    item: DueItem
    rule_id: str
    notifications: list[Notification]
    next_reminder: DueItem | None


@dataclass
class Plan:
    sends: list[Planned] = field(default_factory=list)
    dropped: list[DueItem] = field(default_factory=list)

    @property
    def notifications(self) -> list[Notification]:
        return [n for planned in self.sends for n in planned.notifications]


class FollowUps:
    def __init__(
        self, client: redis.Redis, book: AckBook | None = None, links: LinkSigner | None = None
    ) -> None:
        self.client = client
        self.book = book or AckBook(client)
        # Signs the ack and silence links of each reminder and step (None: no links).
        self.links = links
        self._advance = client.register_script(_ADVANCE)

    def plan(self, rules: Mapping[str, BaseRule], now: float, limit: int = SWEEP_LIMIT) -> Plan:
        """What is due at ``now``: the notifications to send, the items to drop. No writes."""
        reply = self.client.zrangebyscore(DUE_KEY, "-inf", now, start=0, num=limit, withscores=True)
        if not isinstance(reply, list):
            raise TypeError(f"expected a list reply from ZRANGEBYSCORE, got {type(reply)}")
        items = [DueItem.parse(text(pair[0]), float(pair[1])) for pair in reply]
        records = self.book.fields_of([item.alert_id for item in items])
        plan = Plan()
        for item, fields in zip(items, records, strict=True):
            rule = rules.get(fields.get("rule_id", ""))
            if fields.get("state") != AckState.OPEN or rule is None:
                plan.dropped.append(item)
                continue
            planned = _render(item, rule, fields, now, self.links)
            if planned is None:
                plan.dropped.append(item)
            else:
                plan.sends.append(planned)
        return plan

    def advance(self, plan: Plan, now: float) -> list[Planned]:
        """Take the planned items (after their tasks are published); those this call took."""
        if plan.dropped:
            self.client.zrem(DUE_KEY, *[item.member for item in plan.dropped])
        if not plan.sends:
            return []
        pipe = self.client.pipeline(transaction=False)
        for planned in plan.sends:
            item, following = planned.item, planned.next_reminder
            self._advance(
                keys=[
                    DUE_KEY,
                    record_key(item.alert_id),
                    history_key(item.alert_id),
                    OUTBOX_STREAM,
                    COUNTS_KEY,
                ],
                args=[
                    item.member,
                    item.kind.value,
                    item.number,
                    repr(now),
                    following.member if following else "",
                    repr(following.due_at) if following else "0",
                    item.alert_id,
                    planned.rule_id,
                ],
                client=pipe,
            )
        return [p for p, took in zip(plan.sends, pipe.execute(), strict=True) if int(took)]


def _render(
    item: DueItem,
    rule: BaseRule,
    fields: dict[str, str],
    now: float,
    links: LinkSigner | None = None,
) -> Planned | None:
    """The notifications of one due item, or None when its rule no longer asks for it."""
    context = json.loads(fields.get("context") or "{}")
    opened_at = float(fields.get("opened_at") or now)
    values: dict[str, object] = {
        **context.get("values", {}),
        "alert_id": item.alert_id,
        "transition": item.kind.value,
        # How long it has been open (wall clock), not the trigger's 0 s.
        "duration": duration(now - opened_at),
        "duration_seconds": round(now - opened_at, 3),
    }
    following: DueItem | None = None
    if item.kind == FollowUp.REMINDER:
        repeat = [float(gap) for gap in fields.get("repeat", "").split(",") if gap]
        if not repeat:
            return None
        values["reminder"] = item.number
        gap = reminder_gap(repeat, item.number + 1)
        # After a long outage of the sweep, one reminder now and the next a gap later,
        # rather than a burst of the ones missed.
        next_at = item.due_at + gap if item.due_at + gap > now else now + gap
        following = DueItem(item.alert_id, FollowUp.REMINDER, item.number + 1, next_at)
        notifier, transition = rule, TransitionKind.REMINDER
    else:
        if item.number >= len(rule.escalation):
            return None
        step = rule.escalation[item.number]
        values["escalation_step"] = item.number + 1
        # The step's channels and recipients replace the rule's for this notification only.
        notifier = replace(
            rule, channels=step.channels, recipients={**rule.recipients, **step.recipients}
        )
        transition = TransitionKind.ESCALATION
    event = context.get("event", {})
    notifications = compose(
        notifier,
        rule.message_template,
        event,
        Source(f"klaxon.{item.kind.value}/{item.alert_id}", 0, item.number),
        dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
        transition=transition,
        values=values,
        alert={"id": item.alert_id, "state_key": fields.get("key", ""), "opened_at": opened_at},
        links=links,
    )
    return Planned(item, rule.id, notifications, following)
