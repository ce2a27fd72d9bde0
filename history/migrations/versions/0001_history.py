"""The history: alert events and their timeline, notifications and attempts, silences audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("device_id", sa.String(200), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("metric", sa.String(200)),
        sa.Column("operator", sa.String(32)),
        sa.Column("threshold_value", sa.Float()),
        sa.Column("current_value", sa.Float()),
        sa.Column("triggered_at", sa.Float(), nullable=False),
        sa.Column("is_resolved", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", sa.Float()),
        sa.Column("resolution_value", sa.Float()),
        sa.Column("acknowledged_at", sa.Float()),
        sa.Column("acknowledged_by", sa.String(200)),
        sa.Column("rejected_at", sa.Float()),
        sa.Column("rejected_by", sa.String(200)),
        sa.Column("metadata", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alert_events_triggered", "alert_events", ["triggered_at", "id"])
    op.create_index(
        "ix_alert_events_rule_triggered", "alert_events", ["rule_id", "triggered_at", "id"]
    )
    op.create_table(
        "alert_timeline",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("alert_id", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("rule_id", sa.String(200), nullable=False, index=True),
        sa.Column("channel", sa.String(32), nullable=False, index=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("transition", sa.String(32), nullable=False),
        sa.Column("alert_id", sa.String(64), index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_notifications_created", "notifications", ["created_at", "id"])
    op.create_table(
        "notification_attempts",
        sa.Column("attempt_id", sa.String(64), primary_key=True),
        sa.Column("notification_id", sa.String(64), nullable=False, index=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float()),
        sa.Column("finished_at", sa.Float()),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
    )
    op.create_table(
        "silence_audit",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("silence_id", sa.String(64), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "silence_audit",
        "notification_attempts",
        "notifications",
        "alert_timeline",
        "alert_events",
    ):
        op.drop_table(table)
