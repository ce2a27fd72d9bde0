"""Rows of the history as plain JSON objects: what ``--json`` prints and scripts read."""

from __future__ import annotations

from contract.jsonsafe import JsonObject
from history.models import AlertEventRow, AttemptRow, NotificationRow, TimelineRow


def alert_view(row: AlertEventRow) -> JsonObject:
    duration = None if row.resolved_at is None else row.resolved_at - row.triggered_at
    return {
        "id": row.id,
        "rule_id": row.rule_id,
        "device_id": row.device_id,
        "triggered_at": row.triggered_at,
        "current_value": row.current_value,
        "threshold_value": row.threshold_value,
        "operator": row.operator,
        "metric": row.metric,
        "kind": row.kind,
        "is_resolved": row.is_resolved,
        "resolved_at": row.resolved_at,
        "resolution_value": row.resolution_value,
        "acknowledged_at": row.acknowledged_at,
        "acknowledged_by": row.acknowledged_by,
        "rejected_at": row.rejected_at,
        "rejected_by": row.rejected_by,
        "metadata": row.meta,
        "duration_seconds": duration,
    }


def timeline_view(row: TimelineRow) -> JsonObject:
    return {
        "kind": row.kind,
        "at": row.at,
        "actor": row.actor,
        "note": row.note,
        "detail": row.detail,
    }


def notification_view(row: NotificationRow) -> JsonObject:
    return {
        "id": row.id,
        "rule_id": row.rule_id,
        "channel": row.channel,
        "recipients": list(row.recipients),
        "transition": row.transition,
        "alert_id": row.alert_id,
        "status": row.status,
        "reason": row.reason,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def attempt_view(number: int, row: AttemptRow) -> JsonObject:
    return {
        "number": number,
        "attempt_id": row.attempt_id,
        "outcome": row.outcome,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "error": row.error,
        "reason": row.reason,
    }
