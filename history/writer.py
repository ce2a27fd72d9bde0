"""Apply a batch of outbox entries to the database: idempotent upserts, one transaction.

Entries are first folded per row key in stream order (the stream is one total order), so
each statement touches a row once; every statement is ``INSERT ... ON CONFLICT DO UPDATE``
(or ``DO NOTHING``) on both SQLite and PostgreSQL. Applying the same entries twice leaves
the same rows: that is what lets the recorder acknowledge after the commit and replay
whatever a crash left unacknowledged (docs/history.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, and_, case, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from contract.jsonsafe import JsonObject
from contract.outbox import AttemptOutcome, Kind, NotificationStatus, Record
from history.models import (
    AlertEventRow,
    AttemptRow,
    NotificationRow,
    SilenceAuditRow,
    TimelineRow,
)

log = logging.getLogger(__name__)

ALERTS: Table = AlertEventRow.__table__  # type: ignore[assignment]  # declarative Table
TIMELINE: Table = TimelineRow.__table__  # type: ignore[assignment]
NOTIFICATIONS: Table = NotificationRow.__table__  # type: ignore[assignment]
ATTEMPTS: Table = AttemptRow.__table__  # type: ignore[assignment]
SILENCES: Table = SilenceAuditRow.__table__  # type: ignore[assignment]

_ALERT_FIELDS = (
    "rule_id",
    "device_id",
    "kind",
    "metric",
    "operator",
    "threshold_value",
    "current_value",
    "triggered_at",
    "is_resolved",
    "resolved_at",
    "resolution_value",
)
_ACTIONS = {Kind.ACK, Kind.UNACK, Kind.REJECT}

Row = dict[str, Any]  # Any: column values of mixed types, bound by SQLAlchemy


@dataclass
class Batch:
    """A batch folded into one row per key, per table, in stream order."""

    alerts: dict[str, Row] = field(default_factory=dict)
    timeline: dict[str, Row] = field(default_factory=dict)
    described: dict[str, Row] = field(default_factory=dict)  # notifications: queued facts
    statuses: dict[str, Row] = field(default_factory=dict)  # notifications: last status
    attempts: dict[str, Row] = field(default_factory=dict)
    silences: dict[str, Row] = field(default_factory=dict)
    actions: list[Row] = field(default_factory=list)  # ack/unack/reject, in order
    skipped: int = 0


def fold(entries: Sequence[tuple[str, Record]]) -> Batch:
    """Fold ``(stream entry id, record)`` pairs; a malformed entry is logged and skipped."""
    batch = Batch()
    for entry_id, record in entries:
        try:
            _fold_one(batch, entry_id, record)
        except (KeyError, TypeError, ValueError) as exc:
            batch.skipped += 1
            log.error("outbox entry %s (%s) skipped: %r", entry_id, record.kind, exc)
    return batch


def _text(data: JsonObject, name: str, default: str = "") -> str:
    value = data.get(name)
    return default if value is None else str(value)


def _number(data: JsonObject, name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} is not a number: {value!r}")
    return float(value)


def _fold_one(batch: Batch, entry_id: str, record: Record) -> None:
    data = record.data
    key = record.key or entry_id
    at = _number(data, "at")
    match record.kind:
        case Kind.ALERT:
            event = data["event"]
            if not isinstance(event, dict):
                raise ValueError("event is not an object")
            alert_id = str(event["id"])
            row = batch.alerts.setdefault(alert_id, {"id": alert_id, "is_resolved": False})
            for name in _ALERT_FIELDS:
                if event.get(name) is not None:
                    row[name] = event[name]
            row["is_resolved"] = bool(row.get("is_resolved")) or bool(event.get("is_resolved"))
            row["metadata"] = event.get("metadata") or {}
            transition = _text(data, "transition")
            moment = event.get("resolved_at") if row["is_resolved"] else event.get("triggered_at")
            batch.timeline[key] = {
                "key": key,
                "alert_id": alert_id,
                "kind": transition,
                "at": moment,
                "actor": "",
                "note": "",
                "detail": {
                    "value": event.get(
                        "resolution_value" if row["is_resolved"] else "current_value"
                    )
                },
            }
        case Kind.NOTIFICATION:
            notification_id = _text(data, "id")
            if not notification_id:
                raise ValueError("no notification id")
            status = NotificationStatus(_text(data, "status"))
            described = batch.described.setdefault(
                notification_id,
                {
                    "id": notification_id,
                    "rule_id": "",
                    "channel": "",
                    "recipients": [],
                    "transition": "",
                    "alert_id": None,
                    "status": NotificationStatus.QUEUED.value,
                    "reason": "",
                    "created_at": at,
                    "updated_at": at,
                },
            )
            for name in ("rule_id", "channel", "transition", "alert_id"):
                if data.get(name):
                    described[name] = data[name]
            if data.get("recipients"):
                described["recipients"] = data["recipients"]
            if status is not NotificationStatus.QUEUED:
                _set_status(batch, notification_id, status.value, _text(data, "reason"), at)
        case Kind.ATTEMPT:
            notification_id = _text(data, "notification_id")
            attempt_id = _text(data, "attempt_id")
            if not notification_id or not attempt_id:
                raise ValueError("no notification_id or attempt_id")
            outcome = AttemptOutcome(_text(data, "outcome"))
            row = batch.attempts.setdefault(
                attempt_id,
                {
                    "attempt_id": attempt_id,
                    "notification_id": notification_id,
                    "outcome": outcome.value,
                    "started_at": None,
                    "finished_at": None,
                    "error": "",
                    "reason": "",
                },
            )
            if outcome is AttemptOutcome.STARTED:
                row["started_at"] = at
            else:
                row.update(
                    outcome=outcome.value,
                    finished_at=at,
                    error=_text(data, "error"),
                    reason=_text(data, "reason"),
                )
            if data.get("status"):
                status_text = NotificationStatus(_text(data, "status")).value
                _set_status(batch, notification_id, status_text, _text(data, "reason"), at)
        case Kind.SILENCE:
            batch.silences[key] = {
                "key": key,
                "silence_id": _text(data, "silence_id"),
                "action": _text(data, "action"),
                "actor": _text(data, "actor"),
                "matchers": data.get("matchers") or {},
                "reason": _text(data, "reason"),
                "at": at,
            }
        case _:
            # ack, unack, reject, escalation, reminder and kinds added later: a timeline step.
            alert_id = _text(data, "alert_id")
            if not alert_id:
                raise ValueError("no alert_id")
            detail = {k: v for k, v in data.items() if k not in ("alert_id", "actor", "note", "at")}
            batch.timeline[key] = {
                "key": key,
                "alert_id": alert_id,
                "kind": record.kind,
                "at": at,
                "actor": _text(data, "actor"),
                "note": _text(data, "note"),
                "detail": detail,
            }
            if record.kind in _ACTIONS:
                batch.actions.append(
                    {
                        "kind": record.kind,
                        "alert_id": alert_id,
                        "actor": _text(data, "actor"),
                        "at": at,
                    }
                )


def _set_status(
    batch: Batch, notification_id: str, status: str, reason: str, at: float | None
) -> None:
    batch.statuses[notification_id] = {
        "id": notification_id,
        "rule_id": "",
        "channel": "",
        "recipients": [],
        "transition": "",
        "alert_id": None,
        "status": status,
        "reason": reason,
        "created_at": at,
        "updated_at": at,
    }


Excluded = Any  # the statement's ``excluded`` namespace (dialect-specific)


def _upsert(
    connection: Connection,
    table: Table,
    rows: list[Row],
    keys: list[str],
    updates: Callable[[Excluded], dict[str, Any]] | None,
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET updates(excluded), or DO NOTHING."""
    if not rows:
        return
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table)
    if updates is None:
        statement = stmt.on_conflict_do_nothing(index_elements=keys)
    else:
        statement = stmt.on_conflict_do_update(index_elements=keys, set_=updates(stmt.excluded))
    connection.execute(statement, rows)


def _keep_unless_empty(new: ColumnElement[Any], old: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((new == "", old), else_=new)


def write(connection: Connection, batch: Batch) -> None:
    """Apply a folded batch within the caller's transaction."""
    a = ALERTS.c
    _upsert(
        connection,
        ALERTS,
        [_alert_row(row) for row in batch.alerts.values()],
        ["id"],
        lambda ex: {
            "current_value": func.coalesce(ex.current_value, a.current_value),
            "is_resolved": a.is_resolved | ex.is_resolved,
            "resolved_at": func.coalesce(ex.resolved_at, a.resolved_at),
            "resolution_value": func.coalesce(ex.resolution_value, a.resolution_value),
            "metadata": ex["metadata"],
        },
    )
    n = NOTIFICATIONS.c
    _upsert(
        connection,
        NOTIFICATIONS,
        list(batch.described.values()),
        ["id"],
        # A replayed "queued" fills in what is missing and never moves the status back.
        lambda ex: {
            "rule_id": _keep_unless_empty(ex.rule_id, n.rule_id),
            "channel": _keep_unless_empty(ex.channel, n.channel),
            "transition": _keep_unless_empty(ex.transition, n.transition),
            "recipients": ex.recipients,
            "alert_id": func.coalesce(ex.alert_id, n.alert_id),
            "created_at": func.min(ex.created_at, n.created_at)
            if connection.dialect.name == "sqlite"
            else func.least(ex.created_at, n.created_at),
        },
    )
    _upsert(
        connection,
        NOTIFICATIONS,
        list(batch.statuses.values()),
        ["id"],
        lambda ex: {"status": ex.status, "reason": ex.reason, "updated_at": ex.updated_at},
    )
    t = ATTEMPTS.c
    _upsert(
        connection,
        ATTEMPTS,
        list(batch.attempts.values()),
        ["attempt_id"],
        lambda ex: {
            "outcome": case(
                (ex.outcome == AttemptOutcome.STARTED.value, t.outcome), else_=ex.outcome
            ),
            "started_at": func.coalesce(t.started_at, ex.started_at),
            "finished_at": func.coalesce(ex.finished_at, t.finished_at),
            "error": _keep_unless_empty(ex.error, t.error),
            "reason": _keep_unless_empty(ex.reason, t.reason),
        },
    )
    _upsert(connection, TIMELINE, list(batch.timeline.values()), ["key"], None)
    _upsert(connection, SILENCES, list(batch.silences.values()), ["key"], None)
    for action in batch.actions:
        connection.execute(_action_update(action))


def _alert_row(row: Row) -> Row:
    values: Row = {name: row.get(name) for name in _ALERT_FIELDS}
    values.update(
        id=row["id"],
        rule_id=row.get("rule_id") or "",
        device_id=row.get("device_id") or "",
        kind=row.get("kind") or "threshold",
        triggered_at=row.get("triggered_at") or 0.0,
        is_resolved=bool(row.get("is_resolved")),
        metadata=row.get("metadata") or {},
        acknowledged_at=None,
        acknowledged_by=None,
        rejected_at=None,
        rejected_by=None,
    )
    return values


def _action_update(action: Row) -> Any:
    a = ALERTS.c
    where = and_(a.id == action["alert_id"])
    match action["kind"]:
        case Kind.ACK:
            values = {"acknowledged_at": action["at"], "acknowledged_by": action["actor"]}
        case Kind.UNACK:
            values = {"acknowledged_at": None, "acknowledged_by": None}
        case _:
            values = {"rejected_at": action["at"], "rejected_by": action["actor"]}
    return update(ALERTS).where(where).values(**values)
