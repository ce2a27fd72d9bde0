"""The stateful stage of range rules: readings -> level transitions -> alert events and
notifications, each level on its own channels.

Who hears what: ``trigger``, ``escalate`` and ``reminder`` go to the channels of the level
now in effect; ``deescalate`` (with ``notify_on_resolve``) to the channels of the level
left; ``resolve`` (with ``notify_on_resolve``) to the channels of every level the alert
reached, so a warning that went critical resolves on Slack and on SMS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from alerts.humanize import duration
from alerts.levels import LevelLifecycle, LevelObservation, LevelSpec, LevelTransition
from alerts.observed import Observed
from alerts.store import AlertEvent
from contract.ack_links import LinkSigner
from contract.notification import Notification, TransitionKind
from rules.compose import compose
from rules.range import Level, LevelReading, RangeRule

# Notified only with notify_on_resolve; the last two with the resolve template.
RESOLVING = (TransitionKind.RESOLVE, TransitionKind.DEESCALATE, TransitionKind.NO_DATA_RESOLVE)
RESOLVED = (TransitionKind.RESOLVE, TransitionKind.NO_DATA_RESOLVE)


@dataclass(frozen=True)
class LevelChange:
    """A level transition caused by one event for one range rule."""

    decoded: Observed
    rule: RangeRule
    reading: LevelReading
    transition: LevelTransition
    at: float

    @property
    def level(self) -> Level:
        """The level the alert is at now, or the one it left when it resolved."""
        t = self.transition
        rank = t.level if t.level > 0 else max(t.previous, 1)
        return self.reading.levels[rank - 1]

    def alert_event(self) -> AlertEvent:
        rule, reading, transition = self.rule, self.reading, self.transition
        source = self.decoded.source
        level = self.level
        kind = transition.kind
        event = AlertEvent(
            id=transition.alert_id,
            rule_id=rule.id,
            device_id=reading.key,
            triggered_at=transition.triggered_at,
            current_value=transition.trigger_value
            if kind == TransitionKind.RESOLVE
            else reading.value,
            threshold_value=level.crossed(reading.value),
            operator=None,
            metric=rule.metric,
            kind="no_data" if kind == TransitionKind.NO_DATA_RESOLVE else "range",
            metadata={
                "rule_name": rule.name,
                "priority": rule.priority,
                "severity": level.severity,
                "band": level.band,
                "limit_source": level.limit_source,
                "topic": source.topic,
                "partition": source.partition,
                "offset": source.offset,
            },
        )
        if kind in RESOLVED:
            return event.resolved(self.at, reading.value)
        return event

    def template_values(self) -> dict[str, object]:
        transition, level, value = self.transition, self.level, self.reading.value
        fired = self.at - transition.triggered_at
        return {
            "current_value": value,
            "metric": self.rule.metric,
            "device_id": self.reading.key,
            "state_key": self.reading.key,
            "severity": level.severity,
            "low": level.low,
            "high": level.high,
            "band": level.band,
            "limit": level.crossed(value),
            "limit_source": level.limit_source,
            "alert_id": transition.alert_id,
            "transition": transition.kind.value,
            "triggered_at": dt.datetime.fromtimestamp(transition.triggered_at, dt.UTC).isoformat(),
            "duration": duration(fired),
            "duration_seconds": round(fired, 3),
        }

    def channels(self) -> tuple[str, ...]:
        """Who hears this transition (see the module docstring)."""
        t, levels = self.transition, self.reading.levels
        if t.kind == TransitionKind.RESOLVE:
            reached = levels[: max(t.peak, t.previous, 1)]
            return tuple(dict.fromkeys(c for level in reached for c in level.channels))
        if t.kind == TransitionKind.DEESCALATE:
            return levels[t.previous - 1].channels
        return self.level.channels


class LevelStage:
    def __init__(self, lifecycle: LevelLifecycle, alert_id: Callable[[str, str, str], str]):
        self.lifecycle = lifecycle
        self.alert_id = alert_id

    def changes(
        self, items: Sequence[tuple[Observed, RangeRule, LevelReading]], now: float
    ) -> list[LevelChange]:
        """Apply the readings of range rules to their lifecycles. Touches Redis (may raise)."""
        pending: list[tuple[Observed, RangeRule, LevelReading, LevelObservation]] = []
        for item, rule, reading in items:
            source = item.source
            specs = tuple(
                LevelSpec(breached, cleared, level.for_seconds, level.repeat_interval)
                for level, breached, cleared in zip(
                    reading.levels, reading.breaches, reading.clears, strict=True
                )
            )
            observation = LevelObservation(
                rule_id=rule.id,
                key=reading.key,
                levels=specs,
                at=reading.at if reading.at is not None else now,
                topic=source.topic,
                partition=source.partition,
                offset=source.offset,
                value=reading.value,
            )
            pending.append((item, rule, reading, observation))
        found = self.lifecycle.observe(
            [
                (obs, self.alert_id(item.source.identity, rule.id, reading.key))
                for item, rule, reading, obs in pending
            ],
            received_at=now,
        )
        return [
            LevelChange(item, rule, reading, transition, obs.at)
            for (item, rule, reading, obs), transitions in zip(pending, found, strict=True)
            for transition in transitions
        ]

    @staticmethod
    def notifications(
        changes: Sequence[LevelChange], matched_at: str, links: LinkSigner | None = None
    ) -> list[Notification]:
        built: list[Notification] = []
        for change in changes:
            rule, kind = change.rule, change.transition.kind
            resolves = kind in RESOLVING
            if resolves and not rule.notify_on_resolve:
                continue
            template = rule.resolve_template if kind in RESOLVED else rule.message_template
            channels = change.channels()
            # The rule as compose sees it for this transition: only its channels.
            view = replace(rule, channels=channels)
            alert = change.alert_event()
            built.extend(
                compose(
                    view,
                    template,
                    change.decoded.event,
                    change.decoded.source,
                    matched_at,
                    transition=kind,
                    values=change.template_values(),
                    alert={
                        "id": alert.id,
                        "state_key": alert.device_id,
                        "triggered_at": alert.triggered_at,
                        "current_value": change.reading.value,
                        "severity": alert.metadata["severity"],
                        "limit": alert.threshold_value,
                        "limit_source": alert.metadata["limit_source"],
                        "is_resolved": alert.is_resolved,
                    },
                    links=links,
                    # A level alert has no ack record (alerts.acks): silence link only.
                    acknowledgeable=False,
                )
            )
        return built
