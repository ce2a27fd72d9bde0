"""Render one rule's notifications for one event: one per channel, each with its variants."""

from __future__ import annotations

from collections.abc import Mapping

from contract.channels import CHANNELS
from contract.jsonsafe import JsonObject, jsonable_object
from contract.notification import Notification, Source, TransitionKind, notification_id
from rules.model import BaseRule
from rules.templates import Template


def compose(
    rule: BaseRule,
    template: Template,
    event: Mapping[str, object],
    source: Source,
    matched_at: str,
    transition: TransitionKind = TransitionKind.MATCH,
    values: Mapping[str, object] | None = None,
    alert: JsonObject | None = None,
) -> list[Notification]:
    # Lifecycle values (current_value, metric, threshold, duration) describe the alert and
    # win over same-named event fields; the rule's own names only fill gaps.
    context = {**event, **values} if values else event
    extra = rule.template_values
    message = template.render(context, extra)
    subject = rule.subject_template.render(context, extra)
    safe_event = jsonable_object(event)
    result = []
    for channel in rule.channels:
        variants = {
            name: template.render(context, extra, escape)
            for name, escape in CHANNELS[channel].variants.items()
        }
        recipients = rule.recipients.get(channel)
        result.append(
            Notification(
                id=notification_id(
                    source.topic, source.partition, source.offset, rule.id, channel, transition
                ),
                channel=channel,
                rule_id=rule.id,
                rule_name=rule.name,
                priority=rule.priority,
                message=message,
                subject=subject,
                event=safe_event,
                matched_at=matched_at,
                source=source,
                transition=transition,
                recipients=list(recipients) if recipients else None,
                variants=variants,
                alert=alert,
            )
        )
    return result
