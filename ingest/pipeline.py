"""What the bridge does with one batch, apart from Kafka itself.

decode -> evaluate rules -> admit through cooldowns -> build notifications. Each step is a
method so the loop (``ingest.bridge``) reads as the diagram in docs/design.md and tests can drive a
step alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from alerts.stage import StatefulStage
from alerts.store import AlertEvent
from contract import metrics
from contract.errors import DecodeError
from contract.notification import Notification, Source
from ingest.cooldown import CooldownRequest, Cooldowns
from ingest.decoding import Decoder
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


@dataclass
class Outcome:
    """What one batch produced: everything the bridge must store before it commits."""

    notifications: list[Notification] = field(default_factory=list)
    alert_events: list[tuple[AlertEvent, str]] = field(default_factory=list)  # (event, transition)
    rejected: list[Rejected] = field(default_factory=list)
    events: int = 0
    matches: int = 0
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
    ) -> None:
        # The configured recipients of each enabled email/SMS channel: a hotlist entry's
        # notify column adds to them for its own notification.
        self.recipients = recipients or {}
        self.engine = engine
        self.decoders = decoders
        self.cooldowns = cooldowns
        self.stateful = stateful
        self.clock = clock

    def process(self, batch: Sequence[KafkaMessage], dry_run: bool = False) -> Outcome:
        """Decode, evaluate, and (unless dry-run) apply cooldowns and lifecycle state.

        Touches Redis state idempotently: running it twice for the same batch (after a
        failed enqueue, or a crash before commit) yields the same notifications and ids.
        """
        decoded, rejected = self.decode(batch)
        matches = self.evaluate(decoded)
        outcome = Outcome(rejected=rejected, events=len(decoded), matches=len(matches))
        if dry_run:
            outcome.notifications = self.notifications(matches)
            return outcome
        admitted = self.admit(matches)
        now = self._now()
        changes = self.stateful.changes(decoded)
        outcome.triggered = [m.rule.id for m in admitted] + [
            c.rule.id for c in changes if c.transition.kind == "trigger"
        ]
        outcome.notifications = [
            *self.notifications(admitted),
            *self.stateful.notifications(changes, now),
        ]
        outcome.alert_events = [
            (change.alert_event(), change.transition.kind)
            for change in changes
            if change.transition.kind != "reminder"
        ]
        return outcome

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

    def evaluate(self, decoded: Sequence[Decoded]) -> list[Match]:
        matches: list[Match] = []
        started = time.perf_counter()
        for item in decoded:
            for rule in self.engine.evaluate(item.source.topic, item.event):
                matches.append(Match(item, rule, match_values(rule.conditions, item.event)))
        if decoded:
            per_event = (time.perf_counter() - started) / len(decoded)
            metrics.rule_evaluation_time.observe(per_event)
        for match in matches:
            metrics.rules_matched.labels(match.rule.id, match.rule.priority).inc()
        return matches

    def admit(self, matches: Sequence[Match]) -> list[Match]:
        """The matches that pass their rule's cooldown. Touches Redis (may raise)."""
        limited = [m for m in matches if m.rule.rate_limit is not None]
        requests = []
        for match in limited:
            limit = match.rule.rate_limit
            assert limit is not None
            # Events without the dedup field share one cooldown per rule: better one alert
            # too few than a storm of them.
            value = limit.dedup_value(match.context)
            requests.append(
                CooldownRequest(
                    rule_id=match.rule.id,
                    dedup_value="<missing>" if value is None else value,
                    identity=match.decoded.source.identity,
                    seconds=limit.cooldown_seconds,
                )
            )
        verdicts = dict(zip(map(id, limited), self.cooldowns.allow(requests), strict=True))
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

    def notifications(self, matches: Sequence[Match]) -> list[Notification]:
        now = self._now()
        built: list[Notification] = []
        for match in matches:
            built.extend(self._build(match, now))
        return built

    def _build(self, match: Match, matched_at: str) -> list[Notification]:
        rule, decoded = match.rule, match.decoded
        built = compose(
            rule,
            rule.message_template,
            decoded.event,
            decoded.source,
            matched_at,
            values=match.values,
        )
        if match.values is None:
            return built
        return [
            replace(n, recipients=extra)
            if (extra := entry_recipients(match.values, n.channel, n.recipients, self.recipients))
            else n
            for n in built
        ]
