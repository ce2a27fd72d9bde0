"""The mute stage: between cooldown and enqueue, each notification asks every muter in turn.

Silences first, then the rule's schedule, then inhibition; the first that answers mutes it,
and what it said is recorded (alerts.muting.records) and counted. A resolve whose alert's
trigger was muted is muted too, unless its rule sets ``resolve_when_silenced``: nobody
heard of the alert, so "resolved" would be news about nothing.

``apply`` is one self-contained call on what the batch built, so that later stages
(grouping) slot in after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import redis

from alerts.muting.inhibition import Inhibitor
from alerts.muting.muter import Muted, Muter, Status, alert_id_of
from alerts.muting.records import muted_alert_key, record_muted
from alerts.muting.schedule import ScheduleMuter
from alerts.muting.silences import SilenceMuter, SilenceStore
from alerts.stateful_stage import AnyChange
from alerts.store import AlertEvent
from contract.notification import Notification, TransitionKind
from contract.redis_replies import text
from rules.inhibit import InhibitRule
from rules.model import BaseRule

if TYPE_CHECKING:
    from prometheus_client import Counter

_RESOLVING = (TransitionKind.RESOLVE, TransitionKind.NO_DATA_RESOLVE)

# (alert id, transition) -> {"muted.<channel>": "<status>: <reason>"}
Notes = dict[tuple[str, TransitionKind], dict[str, str]]


@dataclass
class Muting:
    """What the stage let through, and a note for each alert event whose notice it held."""

    kept: list[Notification] = field(default_factory=list)
    notes: Notes = field(default_factory=dict)

    def annotate(
        self, events: Sequence[tuple[AlertEvent, TransitionKind]]
    ) -> list[tuple[AlertEvent, TransitionKind]]:
        """The alert events with their muting in ``metadata``: the history shows that an
        alert went through its lifecycle unheard, and why."""
        return [
            (replace(event, metadata={**event.metadata, **note}), kind)
            if (note := self.notes.get((event.id, kind)))
            else (event, kind)
            for event, kind in events
        ]


class MuteStage:
    def __init__(
        self,
        client: redis.Redis,
        rules: Mapping[str, BaseRule],
        inhibit: Sequence[InhibitRule] = (),
        silences: SilenceMuter | None = None,
    ) -> None:
        self.client = client
        self.rules = rules
        self.silences = silences or SilenceMuter(SilenceStore(client))
        self.inhibitor = Inhibitor(client, inhibit)
        self.muters: tuple[Muter, ...] = (self.silences, ScheduleMuter(rules), self.inhibitor)

    def apply(
        self, notifications: Sequence[Notification], changes: Sequence[AnyChange], now: float
    ) -> Muting:
        """The notifications to send; the muted ones are recorded. Touches Redis (may raise)."""
        self.inhibitor.track(changes)
        result = Muting()
        if not notifications:
            return result
        self.inhibitor.load()
        trigger_muted = self._trigger_muted(notifications)
        muted: list[tuple[Notification, Muted]] = []
        for notification in notifications:
            why = self.mutes(notification, now) or trigger_muted.get(id(notification))
            if why is None:
                result.kept.append(notification)
                continue
            muted.append((notification, why))
            muted_total().labels(notification.rule_id, str(why.status)).inc()
            alert_id = alert_id_of(notification)
            if alert_id is not None:
                note = result.notes.setdefault((alert_id, notification.transition), {})
                note[f"muted.{notification.channel}"] = f"{why.status}: {why.reason}"
        record_muted(self.client, muted, now)
        return result

    def mutes(self, notification: Notification, now: float) -> Muted | None:
        for muter in self.muters:
            why = muter.mutes(notification, now)
            if why is not None:
                return why
        return None

    def _trigger_muted(self, notifications: Sequence[Notification]) -> dict[int, Muted]:
        """The resolves (by ``id()``) whose alert's trigger was muted on their channel."""
        asked: list[tuple[Notification, str]] = []
        for notification in notifications:
            rule = self.rules.get(notification.rule_id)
            alert_id = alert_id_of(notification)
            if (
                notification.transition in _RESOLVING
                and alert_id is not None
                and not (rule is not None and rule.resolve_when_silenced)
            ):
                asked.append((notification, muted_alert_key(alert_id, notification.channel)))
        if not asked:
            return {}
        statuses = self.client.mget([key for _, key in asked])
        found: dict[int, Muted] = {}
        for (notification, _), status in zip(asked, statuses, strict=True):
            if status is not None:
                was = Status(text(status))
                found[id(notification)] = Muted(
                    was,
                    alert_id_of(notification) or "",
                    f"its trigger was {was} (set resolve_when_silenced to send it)",
                )
        return found


def muted_total() -> Counter:
    """``klaxon_notifications_muted_total``, imported when first counted.

    The sweep imports this module in ``klaxon worker``'s main process before Prometheus's
    multiprocess mode is set up; a metric created then would write files of its own.
    """
    from contract import metrics  # noqa: PLC0415 - see above

    return metrics.notifications_muted
