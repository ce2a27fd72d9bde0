"""What the bridge does with one batch, apart from Kafka itself.

decode -> evaluate rules -> admit through cooldowns -> build notifications -> mute (silences,
schedules, inhibition: ``alerts.muting.stage``). Each step is a
method so the loop (``ingest.bridge``) reads as the diagram in docs/design.md and tests can drive a
step alone.

Invariant 4, past decoding: whatever goes wrong while one event is evaluated, observed or
turned into notifications is that event's failure. It is dead-lettered with the step and
the error, its notifications are dropped, and the rest of the batch goes on. Only a
dependency's failure (``DEPENDENCY_ERRORS``: Redis, Kafka, the Schema Registry) stops the
batch, so that the bridge retries it whole. The per-event work that can fail runs before
the Redis round trips where it can, so a failed event takes no cooldown or lifecycle step;
building notifications comes after them, and an event that fails there keeps the
lifecycle change it made (the alert record stays true to Redis), but sends nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, cast

from alerts.acks import Opening
from alerts.hits import Hit, hit_id, hit_opening
from alerts.muting.stage import MuteStage, Muting
from alerts.observed import Observed
from alerts.stateful_stage import AnyChange, Pending, StatefulStage
from alerts.store import AlertEvent
from contract import metrics
from contract.ack_links import LinkSigner
from contract.errors import DEPENDENCY_ERRORS, DecodeError
from contract.jsonsafe import JsonObject
from contract.notification import Notification, Source, TransitionKind
from ingest.cooldown import CooldownRequest, Cooldowns
from ingest.decoding import Decoder
from ingest.grouping_stage import GroupingStage
from ingest.messages import KafkaMessage, where
from rules.compose import compose
from rules.engine import RuleEngine
from rules.model import Rule
from rules.watchlists.operator import entry_recipients, match_values

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decoded:
    message: KafkaMessage
    source: Source
    event: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    message: KafkaMessage
    reason: str


@dataclass(frozen=True)
class Match:
    decoded: Decoded
    rule: Rule
    # What a message and the dedup key may use besides the event: {"match": ...} of an
    # in_watchlist condition (rules/watchlists/operator.py), None for other rules.
    values: dict[str, object] | None = None

    @property
    def context(self) -> dict[str, Any]:
        event = self.decoded.event
        return {**event, **self.values} if self.values else event


def _decoded(change: AnyChange) -> Decoded:
    # The stateful stage hands back the very Decoded objects the pipeline gave it; it knows
    # them only as ``alerts.stateful_stage.Observed`` because it sits a floor below.
    return cast(Decoded, change.decoded)


class Failures:
    """Decoded events that failed a later step: each becomes a Rejected, the batch goes on."""

    def __init__(self) -> None:
        self._by_item: dict[int, Rejected] = {}
        self.sources: set[Source] = set()

    def record(self, item: Decoded, step: str, exc: Exception) -> None:
        reason = f"{step} failed: {type(exc).__name__}: {exc}"
        log.warning("event %s dead-lettered: %s", where(item.message), reason)
        log.debug("%s failed for %s", step, where(item.message), exc_info=exc)
        metrics.event_failures.labels(item.source.topic).inc()
        if id(item) not in self._by_item:
            self._by_item[id(item)] = Rejected(item.message, reason)
            self.sources.add(item.source)

    @contextmanager
    def guard(self, item: Decoded, step: str) -> Iterator[None]:
        """Run one step for ``item``; an error that is not a dependency's is the event's."""
        try:
            yield
        except DEPENDENCY_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - invariant 4: one event never stops the bridge
            self.record(item, step, exc)

    def __contains__(self, item: object) -> bool:
        return id(item) in self._by_item

    @property
    def rejected(self) -> list[Rejected]:
        return list(self._by_item.values())


@dataclass
class Outcome:
    """What one batch produced: everything the bridge must store before it commits."""

    notifications: list[Notification] = field(default_factory=list)
    alert_events: list[tuple[AlertEvent, TransitionKind]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    events: int = 0
    matches: int = 0
    matched: list[str] = field(default_factory=list)  # the rule id of each match
    triggered: list[str] = field(default_factory=list)  # rule ids, counted once stored


class Pipeline:
    def __init__(
        self,
        engine: RuleEngine,
        decoders: Mapping[str, Decoder],
        cooldowns: Cooldowns,
        stateful: StatefulStage,
        clock: Callable[[], float] = time.time,
        recipients: Mapping[str, Sequence[str]] | None = None,
        grouping: GroupingStage | None = None,
        muting: MuteStage | None = None,
        links: LinkSigner | None = None,
    ) -> None:
        # The configured recipients of each enabled email/SMS channel: a hotlist entry's
        # notify column adds to them for its own notification.
        self.recipients = recipients or {}
        self.engine = engine
        self.decoders = decoders
        self.cooldowns = cooldowns
        self.stateful = stateful
        self.clock = clock
        # Holds the matches of grouped rules in Redis (None: no rule groups).
        self.grouping = grouping
        # Silences, schedules, inhibition (alerts.muting); None mutes nothing.
        self.muting = muting
        # Signs the ack and silence links of acknowledgeable matches (None: no links).
        self.links = links

    def process(self, batch: Sequence[KafkaMessage], dry_run: bool = False) -> Outcome:
        """Decode, evaluate, and (unless dry-run) apply cooldowns and lifecycle state.

        Touches Redis state idempotently: running it twice for the same batch (after a
        failed enqueue, or a crash before commit) yields the same notifications and ids.
        """
        decoded, rejected = self.decode(batch)
        failures = Failures()
        matches = self.evaluate(decoded, failures)
        if dry_run:
            outcome = Outcome(events=len(decoded))
            built = self.notifications(matches, failures, self._now())
        else:
            outcome, built = self._apply(decoded, matches, failures)
        # An event that failed any step sends nothing, not even what it built before.
        outcome.notifications = [n for n in built if n.source not in failures.sources]
        outcome.rejected = [*rejected, *failures.rejected]
        outcome.matched = [m.rule.id for m in matches if m.decoded not in failures]
        outcome.matches = len(outcome.matched)
        return outcome

    def _apply(
        self, decoded: Sequence[Decoded], matches: Sequence[Match], failures: Failures
    ) -> tuple[Outcome, list[Notification]]:
        """Cooldowns and lifecycle state (Redis), then the notifications of what passed."""
        now = self.stateful.clock()
        pending = self.observe(decoded, failures, now)
        requests = self.cooldown_requests(matches, failures)
        admitted = self.admit([m for m in matches if m.decoded not in failures], requests)
        changes = self.stateful.apply(
            [p for p in pending if p[0] not in failures], now, guard=self._guard(failures)
        )
        opened = self.open_hits(admitted, failures, now)
        matched_at = self._now()
        alone = self.group([m for m in admitted if m.decoded not in failures])
        built = self.notifications(alone, failures, matched_at)
        built += self.stateful_notifications(changes, failures, matched_at)
        muting = Muting(kept=built)
        if self.muting is not None:
            # The mute stage, between cooldown and enqueue (docs/design.md).
            built = [n for n in built if n.source not in failures.sources]
            muting = self.muting.apply(built, changes, self.clock())
        outcome = Outcome(events=len(decoded))
        outcome.alert_events = muting.annotate(self.alert_events(changes, failures) + opened)
        outcome.triggered = [m.rule.id for m in admitted if m.decoded not in failures] + [
            c.rule.id for c in changes if c.transition.kind == TransitionKind.TRIGGER
        ]
        return outcome, muting.kept

    @staticmethod
    def _guard(failures: Failures) -> Callable[[Observed, str], AbstractContextManager[None]]:
        """``failures.guard`` as the stateful stage calls it, with the events it was given."""
        return lambda item, step: failures.guard(cast(Decoded, item), step)

    def _now(self) -> str:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).isoformat()

    def decode(self, messages: Sequence[KafkaMessage]) -> tuple[list[Decoded], list[Rejected]]:
        decoded: list[Decoded] = []
        rejected: list[Rejected] = []
        for message in messages:
            topic = message.topic() or ""
            decoder = self.decoders.get(topic)
            try:
                if decoder is None:
                    raise DecodeError(f"no decoder for topic {topic!r}")
                event = decoder.decode(message.value())
            except DecodeError as exc:
                log.warning("undecodable message %s: %s", where(message), exc)
                metrics.decode_errors.labels(topic).inc()
                rejected.append(Rejected(message, str(exc)))
                continue
            source = Source(topic, message.partition() or 0, message.offset() or 0)
            decoded.append(Decoded(message, source, event))
        metrics.events_consumed.inc(len(decoded))
        return decoded, rejected

    def evaluate(self, decoded: Sequence[Decoded], failures: Failures) -> list[Match]:
        matches: list[Match] = []
        started = time.perf_counter()
        evaluate = self.engine.evaluate
        for item in decoded:
            # try/except rather than failures.guard: free when nothing fails, on the hot path.
            try:
                for rule in evaluate(item.source.topic, item.event):
                    matches.append(Match(item, rule, match_values(rule.conditions, item.event)))
            except DEPENDENCY_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - see Failures.guard
                failures.record(item, "evaluating rules", exc)
        if decoded:
            per_event = (time.perf_counter() - started) / len(decoded)
            metrics.rule_evaluation_time.observe(per_event)
        matches = [m for m in matches if m.decoded not in failures]
        for match in matches:
            metrics.rules_matched.labels(match.rule.id, match.rule.priority).inc()
        return matches

    def observe(self, decoded: Sequence[Decoded], failures: Failures, now: float) -> list[Pending]:
        """What the stateful rules read from each event that has not failed; no Redis."""
        pending: list[Pending] = []
        observe = self.stateful.observe
        for item in decoded:
            if item in failures:
                continue
            try:
                pending.extend(observe(item, now))
            except DEPENDENCY_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - see Failures.guard
                failures.record(item, "observing stateful rules", exc)
        return pending

    def cooldown_requests(
        self, matches: Sequence[Match], failures: Failures
    ) -> dict[int, CooldownRequest]:
        """The cooldown each rate-limited match asks for, by ``id(match)``; no Redis."""
        requests: dict[int, CooldownRequest] = {}
        for match in matches:
            limit = match.rule.rate_limit
            if limit is None or match.decoded in failures:
                continue
            with failures.guard(match.decoded, "reading the dedup key"):
                # Events without the dedup field share one cooldown per rule: better one
                # alert too few than a storm of them.
                value = limit.dedup_value(match.context)
                requests[id(match)] = CooldownRequest(
                    rule_id=match.rule.id,
                    dedup_value="<missing>" if value is None else value,
                    identity=match.decoded.source.identity,
                    seconds=limit.cooldown_seconds,
                )
        return requests

    def admit(
        self, matches: Sequence[Match], requests: Mapping[int, CooldownRequest]
    ) -> list[Match]:
        """The matches that pass their rule's cooldown. Touches Redis (may raise)."""
        limited = [m for m in matches if id(m) in requests]
        allowed = self.cooldowns.allow([requests[id(m)] for m in limited])
        verdicts = dict(zip(map(id, limited), allowed, strict=True))
        admitted: list[Match] = []
        for match in matches:
            if verdicts.get(id(match), True):
                admitted.append(match)
            else:
                metrics.alerts_rate_limited.labels(match.rule.id).inc()
                log.debug(
                    "rule %s rate-limited for %s", match.rule.id, where(match.decoded.message)
                )
        return admitted

    def group(self, matches: Sequence[Match]) -> list[Match]:
        """The matches sent one by one; the rest are held in their groups (Redis)."""
        if self.grouping is None:
            return list(matches)
        alone, _held = self.grouping.hold(matches)
        return alone

    def notifications(
        self, matches: Sequence[Match], failures: Failures, matched_at: str
    ) -> list[Notification]:
        built: list[Notification] = []
        for match in matches:
            rule, decoded = match.rule, match.decoded
            with failures.guard(decoded, f"building the notifications of rule {rule.id}"):
                built.extend(self._build(match, matched_at))
        return built

    def stateful_notifications(
        self, changes: Sequence[AnyChange], failures: Failures, matched_at: str
    ) -> list[Notification]:
        built: list[Notification] = []
        for change in changes:
            with failures.guard(
                _decoded(change), f"building the notifications of rule {change.rule.id}"
            ):
                built.extend(self.stateful.notifications([change], matched_at))
        return built

    def open_hits(
        self, admitted: Sequence[Match], failures: Failures, now: float
    ) -> list[tuple[AlertEvent, TransitionKind]]:
        """Open an alert per admitted match of an acknowledge: true rule (docs/alerts.md,
        "Hits"): each built under its event's guard, all opened in one round trip."""
        openings: list[Opening] = []
        opened: list[tuple[AlertEvent, TransitionKind]] = []
        for match in admitted:
            if not match.rule.acknowledge or match.decoded in failures:
                continue
            with failures.guard(match.decoded, f"opening the hit of rule {match.rule.id}"):
                hit = Hit(match.rule, match.context, match.decoded.source)
                opening, record = hit_opening(hit, now)
                openings.append(opening)
                opened.append((record, TransitionKind.MATCH))
        self.stateful.book.open(openings)
        return opened

    @staticmethod
    def alert_events(
        changes: Sequence[AnyChange], failures: Failures
    ) -> list[tuple[AlertEvent, TransitionKind]]:
        """The alert record of each lifecycle change made (kept even if its event failed
        to build notifications: the change is already in Redis)."""
        events: list[tuple[AlertEvent, TransitionKind]] = []
        for change in changes:
            with failures.guard(_decoded(change), f"recording the alert of rule {change.rule.id}"):
                events.append((change.alert_event(), change.transition.kind))
        return events

    def _build(self, match: Match, matched_at: str) -> list[Notification]:
        rule, decoded = match.rule, match.decoded
        values = match.values
        alert: JsonObject | None = None
        if rule.acknowledge:
            alert_id = hit_id(decoded.source, rule.id)
            alert = {"id": alert_id}
            values = {**(values or {}), "alert_id": alert_id}
        built = compose(
            rule,
            rule.message_template,
            decoded.event,
            decoded.source,
            matched_at,
            values=values,
            alert=alert,
            links=self.links,
        )
        if match.values is None:
            return built
        return [
            replace(n, recipients=extra)
            if (extra := entry_recipients(match.values, n.channel, n.recipients, self.recipients))
            else n
            for n in built
        ]
