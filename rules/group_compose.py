"""One grouped message per channel for a flushed window, each within its channel's limit."""

from __future__ import annotations

from contract.channels import CHANNELS
from contract.jsonsafe import jsonable_object
from contract.notification import Notification, Source, group_notification_id
from rules.grouping import TEXT_LIMITS, GroupSpec, GroupWindow, nested, render_group
from rules.links import NO_LINKS
from rules.model import BaseRule


def compose_group(
    rule: BaseRule,
    spec: GroupSpec,
    window: GroupWindow,
    group_key: str,
    window_start: str,
    source: Source,
    matched_at: str,
) -> list[Notification]:
    """The window's notifications; ``group_key`` and ``window_start`` make their ids."""
    event: dict[str, object] = {**nested(window.fields), "count": window.count}
    # One message for many alerts (or none): {ack_url} and {silence_url} render empty.
    extra = {**NO_LINKS, **rule.template_values}
    subject = rule.subject_template.render(event, extra)
    built = []
    for channel in rule.channels:
        limit = TEXT_LIMITS.get(channel)
        message = render_group(spec.template, window, extra, limit)
        variants = {
            name: render_group(spec.template, window, extra, limit, escape)
            for name, escape in CHANNELS[channel].variants.items()
        }
        recipients = rule.recipients.get(channel)
        built.append(
            Notification(
                id=group_notification_id(rule.id, group_key, window_start, channel),
                channel=channel,
                rule_id=rule.id,
                rule_name=rule.name,
                priority=rule.priority,
                message=message,
                subject=subject,
                event=jsonable_object(event),
                matched_at=matched_at,
                source=source,
                recipients=list(recipients) if recipients else None,
                variants=variants,
            )
        )
    return built
