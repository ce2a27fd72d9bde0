"""No-data alerts: keys (devices) a stateful rule has not heard from for ``no_data_seconds``.

Each stale key gets one no-data alert, raised atomically in Redis by the lifecycle, so
overlapping sweeps raise it once; the next reading of that key resolves it in the bridge.
The sweep task (``tasks.sweep``) runs this on a schedule and stores what it returns.

A rule's ``expected_devices`` that never reported at all are raised too (alerts.expected):
silent since the first sweep that expected them.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from alerts.expected import ExpectedDevices
from alerts.humanize import duration
from alerts.lifecycle import Lifecycle, Transition
from alerts.stateful_stage import no_data_event
from alerts.store import AlertEvent
from contract.ack_links import LinkSigner
from contract.notification import Notification, Source, TransitionKind
from rules.compose import compose
from rules.stateful import StatefulRule

log = logging.getLogger(__name__)


@dataclass
class Raised:
    """What one sweep raised: the notifications to enqueue and the alert events to record."""

    notifications: list[Notification] = field(default_factory=list)
    events: list[tuple[AlertEvent, TransitionKind]] = field(default_factory=list)


def raise_due(
    rules: Iterable[StatefulRule],
    lifecycle: Lifecycle,
    now: float,
    links: LinkSigner | None = None,
) -> Raised:
    """Raise the no-data alerts due at ``now`` for ``rules`` (Redis; may raise); ``links``
    signs each alert's ack and silence links."""
    raised = Raised()
    expected = ExpectedDevices(lifecycle.client)
    at = dt.datetime.fromtimestamp(now, dt.UTC).isoformat()
    for rule in rules:
        if rule.no_data_seconds <= 0:
            continue
        cutoff = now - rule.no_data_seconds
        found: list[tuple[str, Transition | None]] = [
            (key, lifecycle.raise_no_data(rule.id, key, cutoff, str(uuid.uuid4())))
            for key in lifecycle.stale(rule.id, cutoff)
        ]
        # Listed devices that never reported: silent since the sweep first expected them.
        found += [
            (
                key,
                expected.raise_never_seen(
                    rule.id, key, now, rule.no_data_seconds, str(uuid.uuid4())
                ),
            )
            for key in rule.expected_devices
        ]
        for key, transition in found:
            if transition is None:
                continue
            event = no_data_event(rule, key, transition)
            raised.events.append((event, TransitionKind.NO_DATA))
            silence = now - transition.triggered_at
            metric = rule.alert_terms().metric
            values = {
                "device_id": key,
                "state_key": key,
                "metric": metric,
                "alert_id": event.id,
                "transition": TransitionKind.NO_DATA.value,
                "silence": duration(silence),
                "silence_seconds": round(silence, 3),
                "last_seen": dt.datetime.fromtimestamp(transition.triggered_at, dt.UTC).isoformat(),
            }
            raised.notifications.extend(
                compose(
                    rule,
                    rule.no_data_template,
                    {"device_id": key, "metric": metric},
                    Source(f"klaxon.no-data/{event.id}", 0, 0),
                    at,
                    transition=TransitionKind.NO_DATA,
                    values=values,
                    alert={"id": event.id, "state_key": key, "triggered_at": event.triggered_at},
                    links=links,
                    # A no-data alert has no ack record (alerts.acks): silence link only.
                    acknowledgeable=False,
                )
            )
            log.warning("no data from %s for rule %s for %s", key, rule.id, duration(silence))
    return raised
