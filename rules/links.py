"""The ``{ack_url}`` and ``{silence_url}`` placeholders: what they render, who uses them.

A notification about an alert carries two signed links (``contract.ack_links``): one that
acks the alert, one that opens a silence form for it. Without a signer (KLAXON_PUBLIC_URL
unset) or without an alert (a match rule without ``acknowledge: true``, a grouped
message), both render as empty text, never as ``<missing ack_url>``. Only alerts with
an ack record (``alerts.acks``: stateful threshold, match and trend alerts, acknowledgeable
matches) can be acked; range level alerts and no-data alerts carry the silence link alone
and ``{ack_url}`` renders empty there. ``klaxon check`` warns about such templates
(``rules.link_checks``).
"""

from __future__ import annotations

from collections.abc import Iterator

from contract.ack_links import LinkAction, LinkSigner
from rules.templates import Template

ACK_URL = "ack_url"
SILENCE_URL = "silence_url"
PLACEHOLDERS = (ACK_URL, SILENCE_URL)
# What the placeholders render when there is no link to put there.
NO_LINKS: dict[str, object] = {ACK_URL: "", SILENCE_URL: ""}


def alert_links(
    signer: LinkSigner | None, alert_id: object, acknowledgeable: bool = True
) -> dict[str, str]:
    """``Notification.links`` of an alert: {"ack": url, "silence": url}, or {} for none.

    An alert with no ack record (``acknowledgeable`` False: a range rule's level alert, a
    no-data alert) gets only the silence link: an ack link would always be refused.
    """
    if signer is None or not isinstance(alert_id, str) or not alert_id:
        return {}
    links = {LinkAction.SILENCE.value: signer.silence_url(alert_id)}
    if acknowledgeable:
        links = {LinkAction.ACK.value: signer.ack_url(alert_id), **links}
    return links


def placeholder_values(links: dict[str, str]) -> dict[str, object]:
    """What ``{ack_url}`` and ``{silence_url}`` render for ``links``."""
    return {
        ACK_URL: links.get(LinkAction.ACK.value, ""),
        SILENCE_URL: links.get(LinkAction.SILENCE.value, ""),
    }


def used_placeholders(template: Template) -> Iterator[str]:
    """The link placeholders ``template`` uses, in order, once each."""
    seen = set()
    for path in template.paths:
        if path in PLACEHOLDERS and path not in seen:
            seen.add(path)
            yield path
