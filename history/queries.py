"""Reading the history: alert events, one alert's timeline, notifications and attempts.

Lists are newest first with keyset ("cursor") pagination on (time, id), so a page costs
the same at row 1,000,000 as at row 1. A cursor is opaque to clients: ``time|id``,
base64url-encoded.
"""

from __future__ import annotations

import base64
import binascii
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypedDict, TypeVar

from sqlalchemy import ColumnElement, Engine, Select, delete, literal, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from history.models import AlertEventRow, AttemptRow, NotificationRow, TimelineRow

MAX_PAGE = 500
T = TypeVar("T")


class CursorError(ValueError):
    """A cursor that this server did not hand out."""


def encode_cursor(at: float, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{at!r}|{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, _, row_id = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        return float(at), row_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CursorError(f"cursor {cursor[:40]!r} is not one this server returned") from None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class AlertFilter:
    rule_id: str | None = None
    device_id: str | None = None
    since: float | None = None
    resolved: bool | None = None


@dataclass(frozen=True)
class NotificationFilter:
    rule_id: str | None = None
    channel: str | None = None
    status: str | None = None
    since: float | None = None
    alert_id: str | None = None


def _before(
    at_column: InstrumentedAttribute[float], id_column: InstrumentedAttribute[str], cursor: str
) -> ColumnElement[bool]:
    at, row_id = decode_cursor(cursor)
    # A row-value comparison: PostgreSQL walks the (time, id) index from the cursor on,
    # where the equivalent OR of two conditions makes it scan and sort.
    return tuple_(at_column, id_column) < tuple_(literal(at), literal(row_id))


class History:
    """Read (and clean) the history through one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def alerts(
        self,
        where: AlertFilter = AlertFilter(),
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[AlertEventRow]:
        a = AlertEventRow
        query = select(a).order_by(a.triggered_at.desc(), a.id.desc())
        if where.rule_id is not None:
            query = query.where(a.rule_id == where.rule_id)
        if where.device_id is not None:
            query = query.where(a.device_id == where.device_id)
        if where.since is not None:
            query = query.where(a.triggered_at >= where.since)
        if where.resolved is not None:
            query = query.where(a.is_resolved == where.resolved)
        if cursor:
            query = query.where(_before(a.triggered_at, a.id, cursor))
        return self._page(query.limit(min(limit, MAX_PAGE) + 1), limit, "triggered_at")

    def active(self) -> list[AlertEventRow]:
        a = AlertEventRow
        with Session(self.engine) as session:
            query = select(a).where(a.is_resolved.is_(False)).order_by(a.triggered_at)
            return list(session.scalars(query))

    def alert(self, alert_id: str) -> AlertEventRow | None:
        with Session(self.engine) as session:
            return session.get(AlertEventRow, alert_id)

    def timeline(self, alert_id: str) -> list[TimelineRow]:
        t = TimelineRow
        with Session(self.engine) as session:
            query = select(t).where(t.alert_id == alert_id).order_by(t.at, t.key)
            return list(session.scalars(query))

    def notifications(
        self,
        where: NotificationFilter = NotificationFilter(),
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[NotificationRow]:
        n = NotificationRow
        query = select(n).order_by(n.created_at.desc(), n.id.desc())
        for column, value in (
            (n.rule_id, where.rule_id),
            (n.channel, where.channel),
            (n.status, where.status),
            (n.alert_id, where.alert_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.since is not None:
            query = query.where(n.created_at >= where.since)
        if cursor:
            query = query.where(_before(n.created_at, n.id, cursor))
        return self._page(query.limit(min(limit, MAX_PAGE) + 1), limit, "created_at")

    def notification(self, notification_id: str) -> NotificationRow | None:
        with Session(self.engine) as session:
            return session.get(NotificationRow, notification_id)

    def attempts(self, notification_id: str) -> list[AttemptRow]:
        """Every attempt of one notification, in the order they started."""
        return self.attempts_of([notification_id]).get(notification_id, [])

    def attempts_of(self, notification_ids: Sequence[str]) -> dict[str, list[AttemptRow]]:
        """Every attempt of each notification, in the order they started: one query for a
        page that shows many notifications (an alert's timeline)."""
        t = AttemptRow
        found: dict[str, list[AttemptRow]] = {}
        if not notification_ids:
            return found
        with Session(self.engine) as session:
            query = (
                select(t)
                .where(t.notification_id.in_(notification_ids))
                .order_by(t.started_at, t.finished_at, t.attempt_id)
            )
            for row in session.scalars(query):
                found.setdefault(row.notification_id, []).append(row)
        return found

    def _page(self, query: Select[T], limit: int, at_name: str) -> Page[T]:
        limit = min(limit, MAX_PAGE)
        with Session(self.engine) as session:
            rows: Sequence[T] = list(session.scalars(query))
        items = list(rows[:limit])
        more = len(rows) > limit
        last = items[-1] if items else None
        next_cursor = (
            encode_cursor(getattr(last, at_name), getattr(last, "id")) if more and last else None  # noqa: B009
        )
        return Page(items, next_cursor)

    def stats(self, since: float | None = None) -> list[RuleStats]:
        """Per rule: alerts triggered, resolved, firing, and the mean time to resolve."""
        a = AlertEventRow
        query = select(a.rule_id, a.triggered_at, a.resolved_at)
        if since is not None:
            query = query.where(a.triggered_at >= since)
        per_rule: dict[str, list[float | None]] = defaultdict(list)
        with Session(self.engine) as session:
            for rule_id, triggered_at, resolved_at in session.execute(query):
                per_rule[rule_id].append(
                    None if resolved_at is None else resolved_at - triggered_at
                )
        summary: list[RuleStats] = []
        for rule_id, durations in sorted(per_rule.items()):
            done = [d for d in durations if d is not None]
            summary.append(
                {
                    "rule_id": rule_id,
                    "triggered": len(durations),
                    "resolved": len(done),
                    "firing": len(durations) - len(done),
                    "mean_time_to_resolve_seconds": statistics.fmean(done) if done else None,
                }
            )
        return summary

    def cleanup(self, older_than: float) -> int:
        """Delete resolved alert events triggered before ``older_than`` and their timelines."""
        a = AlertEventRow
        with Session(self.engine) as session, session.begin():
            ids = list(
                session.scalars(
                    select(a.id).where(a.is_resolved.is_(True), a.triggered_at < older_than)
                )
            )
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                session.execute(delete(TimelineRow).where(TimelineRow.alert_id.in_(chunk)))
                session.execute(delete(a).where(a.id.in_(chunk)))
        return len(ids)


class RuleStats(TypedDict):
    """One rule's line of ``klaxon alerts stats``."""

    rule_id: str
    triggered: int
    resolved: int
    firing: int
    mean_time_to_resolve_seconds: float | None
