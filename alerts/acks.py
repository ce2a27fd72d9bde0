"""Acknowledgement: who is on an alert, kept atomically in Redis with the alert's history.

An alert someone can act on (a stateful alert, or a hit of a rule with ``acknowledge:
true``) gets an ack record when it opens::

    klaxon:alert:<id>           hash   rule_id, kind (alert | hit), key, state, opened_at,
                                       repeat, next_reminder, context; by, at, comment,
                                       reason, closed_at once someone acts / it resolves
    klaxon:alert:<id>:history   list   JSON entries: opened, ack, unack, reject, resolved,
                                       reminder, escalation (who, when, why)

States (docs/alerts.md draws them)::

    open ──ack──> acknowledged ──unack──> open
      │                │
      └──resolve───────┴──> resolved      (a stateful alert: its condition cleared)
    open / acknowledged ──reject──> rejected   (a hit only: a misread, a wrong entry)

A hit never resolves: ack or reject closes it (it leaves ``klaxon:alerts:active``).
Each action is one Lua script that checks the state, changes it, appends the history
entry and the outbox record (``contract.outbox``'s Lua append: kind ack / unack / reject,
actor, note, and the rule and new state as detail), so two people acking at once get one
ack and one clear refusal.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import redis

from alerts.due import DUE_KEY, DueItem
from alerts.store import ACTIVE_KEY
from contract.jsonsafe import JsonObject
from contract.outbox import LUA_APPEND, OUTBOX_STREAM, Kind
from contract.redis_replies import text, text_fields, texts

ALERT_PREFIX = "klaxon:alert"
# "<action>:<rule id>" -> how many times (ack, unack, reject, reminder, escalation): the
# bridge exports them as metrics (ingest.queue_depth), since acks happen in the CLI.
COUNTS_KEY = "klaxon:stats:alert-actions"
# As long as the lifecycle keeps a key's state: an alert open longer is long forgotten.
RECORD_TTL_SECONDS = 90 * 24 * 3600


# What a person does to an alert, as the CLI, the API and the console name it.
ACTIONS = (Kind.ACK, Kind.UNACK, Kind.REJECT)


class AckState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    RESOLVED = "resolved"


class AlertKind(StrEnum):
    ALERT = "alert"  # a stateful alert: resolves by itself
    HIT = "hit"  # a match of an acknowledge: true rule: closed by ack or reject


class AckError(Exception):
    """An ack, unack or reject that cannot be done; the message says why, for a person.

    ``verdict`` says why for a program (the HTTP API's status code): ``unknown`` (no such
    alert), ``ambiguous`` (an id prefix), ``resolved``, ``not_hit`` (a reject of a stateful
    alert) or ``refused`` (the state does not allow it: a second ack, an unack of an open one).
    """

    def __init__(self, message: str, verdict: str = "unknown") -> None:
        super().__init__(message)
        self.verdict = verdict


def record_key(alert_id: str) -> str:
    return f"{ALERT_PREFIX}:{alert_id}"


def history_key(alert_id: str) -> str:
    return f"{ALERT_PREFIX}:{alert_id}:history"


_OPEN = """
local key, history, due = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', key) == 1 then return 0 end
local ttl, entry, pairs_n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local fields = {}
for i = 4, 3 + 2 * pairs_n do table.insert(fields, ARGV[i]) end
redis.call('HSET', key, unpack(fields))
redis.call('RPUSH', history, entry)
for i = 4 + 2 * pairs_n, #ARGV, 2 do redis.call('ZADD', due, ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', key, ttl)
redis.call('EXPIRE', history, ttl)
return 1
"""

_RESOLVE = """
local key, history = KEYS[1], KEYS[2]
local state = redis.call('HGET', key, 'state')
if not state or state == 'resolved' then return 0 end
redis.call('HSET', key, 'state', 'resolved', 'closed_at', ARGV[1])
redis.call('RPUSH', history, cjson.encode({action = 'resolved', at = tonumber(ARGV[1]),
                                           state = 'resolved'}))
return 1
"""

# ack / unack / reject. Replies {verdict, detail}: ok, unknown, resolved, refused, not_hit.
_ACT = (
    LUA_APPEND
    + """
local key, history, due, outbox, active = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local action, by, note_text, at = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, alert_id = tonumber(ARGV[5]), ARGV[6]
local raw = redis.call('HGETALL', key)
if #raw == 0 then return {'unknown', ''} end
local st = {}
for i = 1, #raw, 2 do st[raw[i]] = raw[i + 1] end
local state = st['state']
if state == 'resolved' then return {'resolved', st['closed_at'] or ''} end
local new
if action == 'ack' then
  if state ~= 'open' then return {'refused', state} end
  new = 'acknowledged'
elseif action == 'unack' then
  if state ~= 'acknowledged' then return {'refused', state} end
  new = 'open'
else
  if st['kind'] ~= 'hit' then return {'not_hit', state} end
  if state == 'rejected' then return {'refused', state} end
  new = 'rejected'
end
local note = 'comment'
if action == 'reject' then note = 'reason' end
redis.call('HSET', key, 'state', new, 'by', by, 'at', at, note, note_text)
redis.call('RPUSH', history, cjson.encode({action = action, by = by, at = tonumber(at),
                                           [note] = note_text, state = new}))
redis.call('EXPIRE', key, ttl)
redis.call('EXPIRE', history, ttl)
if st['kind'] == 'hit' then
  if new == 'open' then redis.call('HSET', active, alert_id, st['rule_id'])
  else redis.call('HDEL', active, alert_id) end
end
if action ~= 'unack' then
  -- Reminders stop at once; escalation steps stay, and the sweep drops them while acked.
  redis.call('ZREM', due, alert_id .. '|reminder|' .. (st['next_reminder'] or '0'))
elseif (st['repeat'] or '') ~= '' then
  -- Reminders resume: the next one unless it is still waiting in the due set.
  local n = tonumber(st['next_reminder'] or '0')
  if n == 0 or not redis.call('ZSCORE', due, alert_id .. '|reminder|' .. n) then
    local gaps = {}
    for gap in string.gmatch(st['repeat'], '[^,]+') do table.insert(gaps, tonumber(gap)) end
    n = n + 1
    redis.call('ZADD', due, tonumber(at) + gaps[math.min(n, #gaps)],
               alert_id .. '|reminder|' .. n)
    redis.call('HSET', key, 'next_reminder', n)
  end
end
-- Keyed by the entry itself: each action is a step of its own, even a second ack.
outbox_alert_action(outbox, action, '', alert_id, by, note_text, at,
                    {rule_id = st['rule_id'], state = new})
redis.call('HINCRBY', KEYS[6], action .. ':' .. st['rule_id'], 1)
return {'ok', new}
"""
)


@dataclass(frozen=True)
class Opening:
    """An alert that just opened, with what its follow-ups need to be rendered later."""

    alert_id: str
    rule_id: str
    kind: AlertKind
    key: str  # the device / state key / dedup value: what a person reads in a list
    opened_at: float  # wall clock: follow-ups are due after it
    repeat: tuple[float, ...]
    due: tuple[DueItem, ...]
    # The event, its source and the template values of the first notification.
    context: JsonObject


@dataclass(frozen=True)
class AckRecord:
    """What ``klaxon alerts`` shows of an alert's acknowledgement."""

    alert_id: str
    rule_id: str
    kind: AlertKind
    state: AckState
    by: str = ""
    at: float | None = None
    comment: str = ""
    reason: str = ""

    @classmethod
    def from_fields(cls, alert_id: str, fields: dict[str, str]) -> AckRecord:
        return cls(
            alert_id=alert_id,
            rule_id=fields.get("rule_id", ""),
            kind=AlertKind(fields.get("kind", AlertKind.ALERT)),
            state=AckState(fields.get("state", AckState.OPEN)),
            by=fields.get("by", ""),
            at=float(fields["at"]) if fields.get("at") else None,
            comment=fields.get("comment", ""),
            reason=fields.get("reason", ""),
        )


class AckBook:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._open = client.register_script(_OPEN)
        self._resolve = client.register_script(_RESOLVE)
        self._act = client.register_script(_ACT)

    def open(self, openings: Sequence[Opening]) -> None:
        """Give each alert its record and schedule its follow-ups; a replay changes nothing."""
        if not openings:
            return
        pipe = self.client.pipeline(transaction=False)
        for opening in openings:
            fields = {
                "rule_id": opening.rule_id,
                "kind": opening.kind.value,
                "key": opening.key,
                "state": AckState.OPEN.value,
                "opened_at": repr(opening.opened_at),
                "repeat": ",".join(repr(gap) for gap in opening.repeat),
                "next_reminder": "1" if opening.repeat else "0",
                "context": json.dumps(opening.context, separators=(",", ":")),
            }
            entry = json.dumps({"action": "opened", "at": opening.opened_at, "state": "open"})
            args: list[str | float] = [RECORD_TTL_SECONDS, entry, len(fields)]
            for name, value in fields.items():
                args += [name, value]
            for item in opening.due:
                args += [repr(item.due_at), item.member]
            self._open(
                keys=[record_key(opening.alert_id), history_key(opening.alert_id), DUE_KEY],
                args=args,
                client=pipe,
            )
        pipe.execute()

    def resolve(self, alert_ids: Sequence[str], at: float) -> None:
        """Mark stateful alerts resolved: their follow-ups stop; a replay changes nothing."""
        if not alert_ids:
            return
        pipe = self.client.pipeline(transaction=False)
        for alert_id in alert_ids:
            self._resolve(
                keys=[record_key(alert_id), history_key(alert_id)], args=[repr(at)], client=pipe
            )
        pipe.execute()

    def ack(self, alert_id: str, by: str, comment: str, at: float) -> AckState:
        return self.act(Kind.ACK, alert_id, by, comment, at)

    def unack(self, alert_id: str, by: str, comment: str, at: float) -> AckState:
        return self.act(Kind.UNACK, alert_id, by, comment, at)

    def reject(self, alert_id: str, by: str, reason: str, at: float) -> AckState:
        return self.act(Kind.REJECT, alert_id, by, reason, at)

    def act(self, action: Kind, alert_id: str, by: str, note: str, at: float) -> AckState:
        """One of ``ACTIONS`` (the CLI, the API and the console name it); ``note`` is the
        comment of an ack or unack, the reason of a reject."""
        reply = self._act(
            keys=[
                record_key(alert_id),
                history_key(alert_id),
                DUE_KEY,
                OUTBOX_STREAM,
                ACTIVE_KEY,
                COUNTS_KEY,
            ],
            args=[
                action.value,
                by,
                note,
                repr(at),
                RECORD_TTL_SECONDS,
                alert_id,
            ],
        )
        verdict, detail = texts(reply)
        if verdict == "ok":
            return AckState(detail)
        raise AckError(_refusal(action, alert_id, verdict, detail), verdict)

    def get(self, alert_id: str) -> AckRecord | None:
        fields = text_fields(self.client.hgetall(record_key(alert_id)))
        return AckRecord.from_fields(alert_id, fields) if fields else None

    def get_many(self, alert_ids: Sequence[str]) -> dict[str, AckRecord]:
        return {
            alert_id: AckRecord.from_fields(alert_id, fields)
            for alert_id, fields in zip(alert_ids, self.fields_of(alert_ids), strict=True)
            if fields
        }

    def fields_of(self, alert_ids: Sequence[str]) -> list[dict[str, str]]:
        """The raw records, in order, {} for a missing one (the sweep reads context, state)."""
        pipe = self.client.pipeline(transaction=False)
        for alert_id in alert_ids:
            pipe.hgetall(record_key(alert_id))
        return [text_fields(reply) for reply in pipe.execute()]

    def history(self, alert_id: str) -> list[JsonObject]:
        entries = texts(self.client.lrange(history_key(alert_id), 0, -1))
        return [json.loads(entry) for entry in entries]

    def resolve_id(self, given: str) -> str:
        """The full id of ``given`` (a full id, or the unique prefix the tables show)."""
        if self.client.exists(record_key(given)):
            return given
        if len(given) >= 4:
            pattern = f"{record_key(given)}*"
            found = {
                key.removeprefix(f"{ALERT_PREFIX}:")
                for key in map(text, self.client.scan_iter(match=pattern, count=1000))
                if not key.endswith(":history")
            }
            if len(found) == 1:
                return found.pop()
            if len(found) > 1:
                raise AckError(
                    f"alert id prefix {given!r} is ambiguous: {', '.join(sorted(found))}",
                    "ambiguous",
                )
        raise AckError(
            f"no acknowledgeable alert with id {given!r}: `klaxon alerts active` lists "
            "the open ones (stateful alerts, and hits of rules with acknowledge: true)"
        )


def action_counts(client: redis.Redis) -> dict[tuple[str, str], int]:
    """(action, rule id) -> how many so far: acks, unacks, rejects, reminders, steps."""
    counts: dict[tuple[str, str], int] = {}
    for field_name, value in text_fields(client.hgetall(COUNTS_KEY)).items():
        action, _, rule_id = field_name.partition(":")
        counts[(action, rule_id)] = int(value)
    return counts


def _refusal(action: Kind, alert_id: str, verdict: str, detail: str) -> str:
    if verdict == "unknown":
        return f"no acknowledgeable alert with id {alert_id!r}"
    if verdict == "resolved":
        return (
            f"alert {alert_id} is already resolved (at {_when(detail)}): "
            f"there is nothing to {action.value}"
        )
    if verdict == "not_hit":
        return (
            f"alert {alert_id} is a stateful alert, not a hit: only a hit can be rejected "
            "(acknowledge it instead; it resolves when its condition clears)"
        )
    if action == Kind.UNACK:
        return f"alert {alert_id} is {detail}, not acknowledged: there is nothing to unack"
    return f"alert {alert_id} is already {detail}"


def _when(seconds: str) -> str:
    try:
        return dt.datetime.fromtimestamp(float(seconds), dt.UTC).isoformat(timespec="seconds")
    except ValueError:
        return "an unknown time"
