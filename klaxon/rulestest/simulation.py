"""The bridge's pipeline, group flusher and the sweep, run in-process on simulated time.

Nothing here copies rule or lifecycle logic: the pipeline is ``ingest.wiring.build_pipeline``,
the flusher ``ingest.group_flusher.GroupFlusher`` and the sweep ``alerts.no_data.raise_due``
with the follow-ups of ``alerts.followups`` (reminders, escalation steps, through the
pipeline's own mute stage, as ``tasks.sweep`` does), all against a Redis client given by the
caller (the in-process one of
``klaxon.rulestest.store`` for tests and replays). Notifications are captured here instead
of being enqueued.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis

from alerts.followups import FollowUps
from alerts.grouping import DUE, GroupStore
from alerts.lifecycle import Lifecycle
from alerts.no_data import raise_due
from contract.notification import Notification, TransitionKind
from contract.settings import Settings
from ingest.group_flusher import GroupFlusher
from ingest.messages import KafkaMessage
from ingest.pipeline import Pipeline, Rejected
from ingest.wiring import build_pipeline
from klaxon.rulestest.store import SimulatedClock, simulated_time
from rules.config import KlaxonConfig
from rules.model import BaseRule

# How often production runs the no-data sweep (``klaxon beat --interval``'s default).
SWEEP_INTERVAL = 30.0
GROUPED = "group"  # the transition shown for a grouped window's message


@dataclass(frozen=True)
class Sent:
    """A notification the bridge or the sweep would have enqueued, at simulated ``at``."""

    at: float
    notification: Notification
    grouped: bool = False

    @property
    def transition(self) -> str:
        return GROUPED if self.grouped else str(self.notification.transition)


class Capture:
    """The ``contract.publisher.Publisher`` of a simulation: it keeps what it is given."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.sent: list[Sent] = []

    def publish(self, notifications: Sequence[Notification]) -> None:
        self.sent.extend(Sent(self.clock(), n, grouped=True) for n in notifications)


@dataclass
class Counts:
    events: int = 0
    matches: int = 0
    matched: Counter[str] = field(default_factory=Counter)  # matches by rule id
    rejected: list[Rejected] = field(default_factory=list)
    alert_events: list[tuple[str, TransitionKind]] = field(default_factory=list)


class Simulation:
    """One run of the rules on simulated time: events in, notifications captured."""

    def __init__(
        self,
        config: KlaxonConfig,
        settings: Settings,
        client: redis.Redis,
        clock: SimulatedClock,
        sweep_every: float = SWEEP_INTERVAL,
        offline: bool = True,
    ) -> None:
        self.clock = clock
        # Test files carry their events as JSON: no Schema Registry calls. A replay reads
        # what is in Kafka, registry-framed Avro included (offline=False).
        if offline:
            settings = dataclasses.replace(settings, schema_registry_url=None)
        if not settings.console_secret:
            # The bridge refuses a public URL without a secret; a simulation sends nothing
            # anyone could click, so it renders no links instead (signed on the simulated
            # clock when both are set).
            settings = dataclasses.replace(settings, public_url="")
        self.pipeline: Pipeline = build_pipeline(config, settings, client, clock)
        self.capture = Capture(clock)
        self.flusher = GroupFlusher(GroupStore(client), self.capture, clock)
        self.lifecycle = Lifecycle(client)
        self.follow_ups = FollowUps(client, links=self.pipeline.links)
        self.enabled: dict[str, BaseRule] = {r.id: r for r in config.rules if r.enabled}
        self.sweep_every = sweep_every
        self._next_sweep = clock() + sweep_every
        self.counts = Counts()

    def reset_sweeps(self) -> None:
        """Sweep every ``sweep_every`` seconds from the clock's time (a replay sets its
        clock at the first event)."""
        self._next_sweep = self.clock() + self.sweep_every

    @property
    def sent(self) -> list[Sent]:
        return self.capture.sent

    def advance(self, to: float) -> None:
        with simulated_time(self.clock):
            self._advance(to)

    def _advance(self, to: float) -> None:
        """Move the clock to ``to``, sweeping and flushing groups on the way in time order,
        as production would: a sweep every ``sweep_every`` seconds, a group when it is due
        (the bridge flushes about every 0.25 s)."""
        while True:
            due = self._next_group_due()
            step = min(self._next_sweep, due if due is not None else self._next_sweep)
            if step > to:
                break
            self._tick(step)
            if step == self._next_sweep:
                self._next_sweep += self.sweep_every
                self._sweep()
            elif self._next_group_due() == due:
                break  # nothing claimed it: do not spin on one due time
        self._tick(max(to, self.clock()))

    def process(self, messages: Sequence[KafkaMessage]) -> None:
        """One batch through the bridge's pipeline at the clock's time."""
        with simulated_time(self.clock):
            outcome = self.pipeline.process(messages)
        now = self.clock()
        self.counts.events += outcome.events
        self.counts.matches += outcome.matches
        self.counts.matched.update(outcome.matched)
        self.counts.rejected += outcome.rejected
        self.counts.alert_events += [(e.rule_id, kind) for e, kind in outcome.alert_events]
        self.sent.extend(Sent(now, n) for n in outcome.notifications)

    def _tick(self, at: float) -> None:
        if at > self.clock():
            self.clock.set(at)
        if self.pipeline.grouping is not None:
            self.flusher.flush(self.pipeline.grouping.rules)

    def _next_group_due(self) -> float | None:
        """When the next group window is due (its score in ``alerts.grouping.DUE``)."""
        first = self.flusher.store.client.zrange(DUE, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def _sweep(self) -> None:
        raised = raise_due(
            self.pipeline.engine.stateful_rules(), self.lifecycle, self.clock(), self.pipeline.links
        )
        now = self.clock()
        self.sent.extend(Sent(now, n) for n in raised.notifications)
        self.counts.alert_events += [(e.rule_id, kind) for e, kind in raised.events]
        plan = self.follow_ups.plan(self.enabled, now)
        kept = plan.notifications
        if self.pipeline.muting is not None:
            kept = self.pipeline.muting.apply(kept, [], now).kept
        self.sent.extend(Sent(now, n) for n in kept)
        self.follow_ups.advance(plan, now)
