"""The stateful stage of a batch: observations -> lifecycle transitions -> alert events and
notifications.

Runs beside the stateless stage (match -> cooldown). A threshold rule, or any rule with a
``state_key``, is observed on every event that carries its metric or key, matching or not,
because a non-matching reading is what resolves an alert.

Range rules move one alert between levels (alerts.level_stage); trend rules keep their
state in Redis (alerts.trend_stage), whose verdicts then go through the usual lifecycle.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from alerts.acks import AckBook, AlertKind, Opening
from alerts.due import first_due
from alerts.humanize import duration
from alerts.level_stage import LevelChange, LevelStage
from alerts.levels import LevelLifecycle
from alerts.lifecycle import Lifecycle, Observation, Transition
from alerts.observed import Observed
from alerts.store import AlertEvent
from alerts.trend_stage import Guard, TrendStage
from alerts.trends import TrendStore
from contract.ack_links import LinkSigner
from contract.jsonsafe import jsonable_object
from contract.notification import Notification, TransitionKind
from rules.compose import compose
from rules.range import LevelReading, RangeRule
from rules.stateful import RULE_LIMIT, Reading, StatefulRule
from rules.trends import Sampled, TrendRule

_ALERT_NAMESPACE = uuid.UUID("0b7f3f0e-53a1-4b0e-9f43-6b6c61786f6e")

_RESOLVING = (TransitionKind.RESOLVE, TransitionKind.NO_DATA_RESOLVE)


# (the decoded event, the rule, what it read, the observation for the lifecycle)
ReadingPending = tuple[Observed, StatefulRule, Reading, Observation]
# A range rule's reading of its levels, for alerts.level_stage.
RangePending = tuple[Observed, RangeRule, LevelReading]
# A trend rule's sample: its verdict needs the trend state in Redis (alerts.trend_stage).
TrendPending = tuple[Observed, TrendRule, Sampled]
# What ``observe`` reads from one event; the event comes first in each.
Pending = ReadingPending | RangePending | TrendPending


@contextmanager
def unguarded(item: Observed, step: str) -> Iterator[None]:
    """No guard: an error in the step stops the whole apply."""
    yield


@dataclass(frozen=True)
class Change:
    """A lifecycle transition caused by one event for one stateful rule."""

    decoded: Observed
    rule: StatefulRule
    reading: Reading
    transition: Transition
    at: float

    def alert_event(self) -> AlertEvent:
        rule, reading, transition = self.rule, self.reading, self.transition
        source = self.decoded.source
        if transition.kind == TransitionKind.NO_DATA_RESOLVE:
            return no_data_event(rule, reading.key, transition).resolved(self.at, reading.value)
        terms = rule.alert_terms()
        resolves = transition.kind == TransitionKind.RESOLVE
        event = AlertEvent(
            id=transition.alert_id,
            rule_id=rule.id,
            device_id=reading.key,
            triggered_at=transition.triggered_at,
            current_value=transition.trigger_value if resolves else reading.value,
            threshold_value=self.limit,
            operator=terms.operator,
            metric=terms.metric,
            kind=terms.kind,
            metadata={
                "rule_name": rule.name,
                "priority": rule.priority,
                **({"limit_source": reading.limit_source} if reading.limit_source else {}),
                "topic": source.topic,
                "partition": source.partition,
                "offset": source.offset,
            },
        )
        if resolves:
            return event.resolved(self.at, reading.value)
        return event

    @property
    def limit(self) -> float | None:
        """The threshold that applied: the reading's (a device's override) or the rule's."""
        found = self.reading.limit
        return found if found is not None else self.rule.alert_terms().threshold

    def opening(self, now: float) -> Opening:
        """The ack record of the alert this trigger opened, follow-ups due from ``now``."""
        rule, alert = self.rule, self.transition.alert_id
        return Opening(
            alert_id=alert,
            rule_id=rule.id,
            kind=AlertKind.ALERT,
            key=self.reading.key,
            opened_at=now,
            repeat=rule.repeat,
            due=tuple(first_due(alert, now, rule.repeat, [s.after for s in rule.escalation])),
            context={
                "event": jsonable_object(self.decoded.event),
                "values": jsonable_object(self.template_values()),
            },
        )

    def template_values(self) -> dict[str, object]:
        transition = self.transition
        terms = self.rule.alert_terms()
        fired = self.at - transition.triggered_at
        return {
            "current_value": self.reading.value,
            "threshold": self.limit,
            "limit_source": self.reading.limit_source or RULE_LIMIT,
            "operator": terms.operator,
            "metric": terms.metric,
            "device_id": self.reading.key,
            "state_key": self.reading.key,
            "alert_id": transition.alert_id,
            "transition": transition.kind.value,
            "triggered_at": dt.datetime.fromtimestamp(transition.triggered_at, dt.UTC).isoformat(),
            "duration": duration(fired),
            "duration_seconds": round(fired, 3),
        }


# What the stage hands back: a lifecycle change, or a range rule's level change.
AnyChange = Change | LevelChange


def no_data_event(rule: StatefulRule, key: str, transition: Transition) -> AlertEvent:
    """The alert event of a silent key: no value, no threshold; triggered at its last reading."""
    return AlertEvent(
        id=transition.alert_id,
        rule_id=rule.id,
        device_id=key,
        triggered_at=transition.triggered_at,
        current_value=None,
        threshold_value=None,
        operator=None,
        metric=rule.alert_terms().metric,
        kind="no_data",
        metadata={"rule_name": rule.name, "priority": rule.priority},
    )


def alert_id(identity: str, rule_id: str, key: str) -> str:
    """The id of the alert an event triggers: the same when that event is replayed."""
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{identity}\x00{rule_id}\x00{key}"))


class StatefulStage:
    def __init__(
        self,
        rules_for: Callable[[str], Sequence[StatefulRule]],
        lifecycle: Lifecycle,
        clock: Callable[[], float] = time.time,
        book: AckBook | None = None,
        links: LinkSigner | None = None,
    ) -> None:
        self.rules_for = rules_for
        # Signs the ack and silence links of the alerts' notifications (None: no links).
        self.links = links
        self.lifecycle = lifecycle
        self.clock = clock
        # Acks, reminders and escalation of the alerts this stage opens (same Redis).
        self.book = book if book is not None else AckBook(lifecycle.client)
        # Range rules move one alert between levels: their own lifecycle (alerts.levels).
        self.levels = LevelStage(LevelLifecycle(lifecycle.client), alert_id)
        # Trend rules judge a statistic of their state in Redis; the verdict is a Reading.
        self.trends = TrendStage(TrendStore(lifecycle.client))

    def observe(self, item: Observed, now: float) -> list[Pending]:
        """What the stateful rules of its topic read from one event; pure, no Redis."""
        pending: list[Pending] = []
        for rule in self.rules_for(item.source.topic):
            if isinstance(rule, RangeRule):
                levels = rule.observe_levels(item.event)
                if levels is not None:
                    pending.append((item, rule, levels))
                continue
            if isinstance(rule, TrendRule):
                sample = rule.sample(item.event)
                if sample is not None:
                    pending.append((item, rule, sample))
                continue
            reading = rule.observe(item.event)
            if reading is not None:
                pending.append(_observed(item, rule, reading, now))
        return pending

    def apply(
        self, pending: Sequence[Pending], now: float, guard: Guard = unguarded
    ) -> list[AnyChange]:
        """Apply observations to the lifecycles in one go. Touches Redis (may raise).

        Trend samples go first: their verdicts join the other readings. ``guard`` runs each
        event's verdict; an event whose verdict fails takes no lifecycle or level step (its
        sample is already in the trend state, as a Redis step cannot be taken back).
        """
        readings: list[ReadingPending] = []
        ranged: list[RangePending] = []
        sampled: list[TrendPending] = []
        for entry in pending:
            item, rule, found = entry[0], entry[1], entry[2]
            if isinstance(rule, RangeRule) and isinstance(found, LevelReading):
                ranged.append((item, rule, found))
            elif isinstance(rule, TrendRule) and isinstance(found, Sampled):
                sampled.append((item, rule, found))
            else:
                readings.append(cast(ReadingPending, entry))
        verdicts, failed = self.trends.readings(sampled, now, guard)
        readings += [_observed(item, rule, reading, now) for item, rule, reading in verdicts]
        if failed:
            readings = [p for p in readings if id(p[0]) not in failed]
            ranged = [p for p in ranged if id(p[0]) not in failed]
        changes: list[AnyChange] = list(self._lifecycle(readings, now, guard))
        return changes + list(self.levels.changes(ranged, now))

    def _lifecycle(
        self, pending: Sequence[ReadingPending], now: float, guard: Guard
    ) -> list[Change]:
        transitions = self.lifecycle.observe(
            [
                (
                    obs,
                    rule.for_seconds,
                    alert_id(item.source.identity, rule.id, reading.key),
                )
                for item, rule, reading, obs in pending
            ],
            received_at=now,
        )
        changes = [
            Change(item, rule, reading, transition, obs.at)
            for (item, rule, reading, obs), found in zip(pending, transitions, strict=True)
            for transition in found
        ]
        self.follow_up(changes, now, guard)
        return changes

    def follow_up(self, changes: Sequence[Change], now: float, guard: Guard = unguarded) -> None:
        """Open the ack record (and follow-ups) of each trigger; close it on a resolve.

        In change order, after the lifecycle: a replayed trigger finds its record and
        changes nothing; a replayed resolve finds it resolved. Each trigger's record is
        built under its event's ``guard``; all are written in one round trip.
        """
        openings: list[Opening] = []
        resolved: list[str] = []
        for change in changes:
            kind, alert = change.transition.kind, change.transition.alert_id
            if kind == TransitionKind.TRIGGER:
                with guard(change.decoded, f"opening the alert of rule {change.rule.id}"):
                    openings.append(change.opening(now))
            elif kind == TransitionKind.RESOLVE:
                resolved.append(alert)
        self.book.open(openings)
        self.book.resolve(resolved, now)

    def notifications(self, changes: Sequence[AnyChange], matched_at: str) -> list[Notification]:
        built = LevelStage.notifications(
            [c for c in changes if isinstance(c, LevelChange)], matched_at, self.links
        )
        for change in changes:
            if isinstance(change, LevelChange):
                continue
            rule, kind = change.rule, change.transition.kind
            resolves = kind in _RESOLVING
            if resolves and not rule.notify_on_resolve:
                continue
            template = rule.resolve_template if resolves else rule.message_template
            alert = change.alert_event()
            built.extend(
                compose(
                    rule,
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
                        "threshold": change.limit,
                        "limit_source": change.reading.limit_source or RULE_LIMIT,
                        "is_resolved": alert.is_resolved,
                    },
                    links=self.links,
                )
            )
        return built


def _observed(item: Observed, rule: StatefulRule, reading: Reading, now: float) -> ReadingPending:
    """A reading with the observation the lifecycle takes of it."""
    source = item.source
    observation = Observation(
        rule_id=rule.id,
        key=reading.key,
        holds=reading.holds,
        clears=reading.clears,
        at=reading.at if reading.at is not None else now,
        topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        value=reading.value,
    )
    return (item, rule, reading, observation)
