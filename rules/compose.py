"""Render one rule's notifications for one event: one per channel, each with its variants."""

from __future__ import annotations

from collections.abc import Mapping

from contract.ack_links import LinkSigner
from contract.channels import CHANNELS
from contract.jsonsafe import JsonObject, jsonable_object
from contract.notification import Notification, Source, TransitionKind, notification_id
from rules.links import NO_LINKS, alert_links, placeholder_values
from rules.model import BaseRule
from rules.templates import Template

_CLOSING = (TransitionKind.RESOLVE, TransitionKind.NO_DATA_RESOLVE)


def compose(
    rule: BaseRule,
    template: Template,
    event: Mapping[str, object],
    source: Source,
    matched_at: str,
    transition: TransitionKind = TransitionKind.MATCH,
    values: Mapping[str, object] | None = None,
    alert: JsonObject | None = None,
    links: LinkSigner | None = None,
    acknowledgeable: bool = True,
) -> list[Notification]:
    """``links`` signs the ack and silence links of the alert ``values["alert_id"]``
    names (None: links are off); a notification without an alert id carries none.
    ``acknowledgeable`` False: the alert has no ack record (range levels, no-data), so
    it gets the silence link only and ``{ack_url}`` renders empty."""
    # Lifecycle values (current_value, metric, threshold, duration) describe the alert and
    # win over same-named event fields; the rule's own names only fill gaps, and
    # {ack_url} and {silence_url} render empty when there is no link.
    # A resolved alert has nothing left to ack or silence: its message carries no links.
    closing = transition in _CLOSING
    urls = (
        alert_links(links, values.get("alert_id"), acknowledgeable)
        if values and not closing
        else {}
    )
    context: Mapping[str, object] = event
    if values:
        context = {**event, **values, **placeholder_values(urls)} if urls else {**event, **values}
    extra = {**NO_LINKS, **rule.template_values}
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
                links=dict(urls),
            )
        )
    return result
