"""The SQL schema of the history, as typed SQLAlchemy 2 models.

Alembic migrations in ``history/migrations`` create these tables; a change here needs a new
migration (``tests/integration/test_history_store.py`` checks the two agree).
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import JSON, Boolean, Float, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contract.jsonsafe import JsonObject


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[object, object]] = {JsonObject: JSON, list[str]: JSON}


class AlertEventRow(Base):
    """One alert, from trigger to resolve: the seed's AlertEvent fields."""

    __tablename__ = "alert_events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(200))
    device_id: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str | None] = mapped_column(String(200))
    operator: Mapped[str | None] = mapped_column(String(32))
    threshold_value: Mapped[float | None] = mapped_column(Float)
    current_value: Mapped[float | None] = mapped_column(Float)
    triggered_at: Mapped[float] = mapped_column(Float)
    is_resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_at: Mapped[float | None] = mapped_column(Float)
    resolution_value: Mapped[float | None] = mapped_column(Float)
    acknowledged_at: Mapped[float | None] = mapped_column(Float)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    rejected_at: Mapped[float | None] = mapped_column(Float)
    rejected_by: Mapped[str | None] = mapped_column(String(200))
    meta: Mapped[JsonObject] = mapped_column("metadata", JSON, default=dict)

    # Pages walk these (newest first, keyset on time and id), with or without a rule.
    __table_args__ = (
        Index("ix_alert_events_triggered", "triggered_at", "id"),
        Index("ix_alert_events_rule_triggered", "rule_id", "triggered_at", "id"),
    )


class TimelineRow(Base):
    """One step of an alert's life: trigger, resolve, ack, unack, reject, escalation, ..."""

    __tablename__ = "alert_timeline"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[JsonObject] = mapped_column(JSON, default=dict)


class NotificationRow(Base):
    """One notification (one task id): where it went and how it ended."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(200), index=True, default="")
    channel: Mapped[str] = mapped_column(String(32), index=True, default="")
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    transition: Mapped[str] = mapped_column(String(32), default="")
    alert_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_notifications_created", "created_at", "id"),)


class AttemptRow(Base):
    """One delivery attempt of a notification: when it started and ended, and the error."""

    __tablename__ = "notification_attempts"

    attempt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # No foreign key: an attempt may be recorded before its notification's queued entry
    # (a dead letter requeued from before the history existed).
    notification_id: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(64), default="")


class SilenceAuditRow(Base):
    """The silences audit trail: who created, changed or expired which silence, when."""

    __tablename__ = "silence_audit"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    silence_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200), default="")
    matchers: Mapped[JsonObject] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[float] = mapped_column(Float)
