"""The API's request and response bodies (Pydantic): the OpenAPI document is made from these."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from klaxon.api.silence_input import MAX_COMMENT, MAX_MATCHERS


class Model(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class FieldError(Model):
    field: str = Field(description="Where the problem is, e.g. query.limit or path.alert_id")
    message: str


class ErrorBody(Model):
    error: str
    fields: list[FieldError] = Field(default_factory=list)


class Alert(Model):
    id: str
    rule_id: str
    device_id: str
    kind: str
    metric: str | None
    operator: str | None
    threshold_value: float | None
    current_value: float | None
    triggered_at: float
    is_resolved: bool
    resolved_at: float | None
    resolution_value: float | None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    rejected_at: float | None = None
    rejected_by: str | None = None
    duration_seconds: float | None


class AlertPage(Model):
    items: list[Alert]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class TimelineStep(Model):
    kind: str = Field(description="trigger, resolve, ack, unack, reject, escalation, reminder, ...")
    at: float
    actor: str
    note: str
    detail: dict[str, Any]


class AckBody(Model):
    by: str = Field(min_length=1, max_length=200, description="Who is on it")
    comment: str = Field(default="", max_length=2000, description="Why, or what is being done")


class RejectBody(Model):
    by: str = Field(min_length=1, max_length=200, description="Who rejects the hit")
    reason: str = Field(
        min_length=1, max_length=2000, description="e.g. misread, wrong-entry, duplicate"
    )


class AckResult(Model):
    alert_id: str
    state: str = Field(description="open, acknowledged or rejected: the alert's new state")
    by: str
    at: float = Field(description="Unix seconds")


class AlertDetail(Model):
    alert: Alert
    timeline: list[TimelineStep]


class Notification(Model):
    id: str
    rule_id: str
    channel: str
    recipients: list[str]
    transition: str
    alert_id: str | None
    status: str = Field(
        description="queued, sent, retrying, dead, silenced, grouped, fallback, ..."
    )
    reason: str
    created_at: float
    updated_at: float


class NotificationPage(Model):
    items: list[Notification]
    next_cursor: str | None


class Attempt(Model):
    number: int
    attempt_id: str
    outcome: str = Field(description="started (in flight or crashed), failed or sent")
    started_at: float | None
    finished_at: float | None
    error: str
    reason: str


class NotificationDetail(Model):
    notification: Notification
    attempts: list[Attempt]


class DeadLetter(Model):
    id: str
    rule_id: str
    channel: str
    recipients_left: list[str]
    message: str
    error: str
    reason: str
    attempts: int
    first_failure_at: float
    last_failure_at: float
    notification: dict[str, Any]


class DeadLetterList(Model):
    items: list[DeadLetter]


class Requeued(Model):
    requeued: str


class Purged(Model):
    purged: str


class Rule(Model):
    id: str
    name: str
    kind: str = Field(description="match, threshold or stateful_match")
    enabled: bool
    priority: str
    source: str
    channels: list[str]


class Problem(Model):
    file: str
    rule_id: str | None
    field: str
    message: str
    warning: bool


class Rules(Model):
    path: str
    valid: bool
    rules: list[Rule]
    channels: list[str] = Field(description="Enabled channels (their settings are never shown)")
    problems: list[Problem]


class Status(Model):
    version: str
    redis: bool
    database: bool
    outbox_length: int | None
    active_alerts: int | None
    dead_letters: int | None


class SilenceBody(Model):
    matchers: list[str] = Field(
        min_length=1,
        max_length=MAX_MATCHERS,
        description='All must match: "rule_id=tank_temperature_high", "camera_id=~cam-.*", '
        "NAME!=VALUE, NAME!~REGEX",
    )
    duration: str | float = Field(
        description='How long from now: "30m", "2h", "1d", or seconds (a number)'
    )
    comment: str = Field(default="", max_length=MAX_COMMENT, description="Why")
    by: str = Field(min_length=1, max_length=200, description="Who")


class ExpireBody(Model):
    by: str = Field(default="", max_length=200, description="Who ends it")
    comment: str = Field(default="", max_length=2000, description="Why it ends early")


class Silence(Model):
    id: str
    matchers: list[str]
    starts_at: float = Field(description="Unix seconds")
    ends_at: float = Field(description="Unix seconds")
    comment: str
    created_by: str
    state: str = Field(description="active, pending or expired")


class SilenceList(Model):
    items: list[Silence]
