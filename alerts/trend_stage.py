"""Trend rules in the stateful stage: readings -> trend state in Redis -> verdict Readings.

The verdicts go through the usual lifecycle (alerts.lifecycle) as any threshold reading
does. A reading without a verdict yet (too little history) or dropped as out of order
(alerts.trends states the rule) gives no Reading: the lifecycle does not see it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from alerts.observed import Observed
from alerts.trends import (
    RunningRequest,
    RunningResult,
    TrendStore,
    WindowRequest,
    WindowResult,
)
from rules.stateful import Reading
from rules.trends import Sampled, TrendRule, z_score

log = logging.getLogger(__name__)

# Runs one event's step; an error in it is that event's alone (alerts.stateful_stage.Guard).
Guard = Callable[[Observed, str], AbstractContextManager[None]]


class TrendStage:
    def __init__(self, store: TrendStore) -> None:
        self.store = store

    def readings(
        self, items: Sequence[tuple[Observed, TrendRule, Sampled]], now: float, guard: Guard
    ) -> tuple[list[tuple[Observed, TrendRule, Reading]], set[int]]:
        """The verdict of each trend reading that has one. Touches Redis (may raise).

        Each event's verdict runs under ``guard``; the ids of the events whose verdict
        failed come back beside the verdicts, for the caller to drop their other readings.
        """
        results = self.store.apply(
            [_request(item, rule, sampled, now) for item, rule, sampled in items]
        )
        verdicts: list[tuple[Observed, TrendRule, Reading]] = []
        failed: set[int] = set()
        for (item, rule, sampled), result in zip(items, results, strict=True):
            done = False
            with guard(item, f"judging the trend of rule {rule.id}"):
                verdict = self._verdict(item, rule, sampled, result, now)
                if verdict is not None:
                    verdicts.append((item, rule, verdict))
                done = True
            if not done:
                failed.add(id(item))
        return verdicts, failed

    @staticmethod
    def _verdict(
        item: Observed,
        rule: TrendRule,
        sampled: Sampled,
        result: WindowResult | RunningResult,
        now: float,
    ) -> Reading | None:
        at = sampled.at if sampled.at is not None else now
        statistic = _statistic(rule, sampled, result)
        if statistic is None:
            if _late(result):
                # Imported here: the CLI imports this module in ``klaxon worker`` before
                # Prometheus's multiprocess mode is chosen, and no metric may exist yet.
                from contract import metrics  # noqa: PLC0415

                metrics.late_readings.labels(rule_id=rule.id).inc()
                log.info(
                    "rule %s dropped an out-of-order reading of %s at %s (%s)",
                    rule.id,
                    sampled.key,
                    at,
                    item.source,
                )
            return None
        holds = rule.holds(statistic)
        # Decided on the exact statistic; shown (messages, alert records) to 4 decimals,
        # not as 0.6854489161...
        return Reading(sampled.key, holds, not holds, round(statistic, 4), at)


def _request(
    item: Observed, rule: TrendRule, sampled: Sampled, now: float
) -> WindowRequest | RunningRequest:
    """What the trend store keeps of one sample: a running mean, or a window of readings."""
    at = sampled.at if sampled.at is not None else now
    source = item.source
    if rule.kind == "anomaly":
        return RunningRequest(
            rule.id,
            sampled.key,
            at,
            sampled.value,
            f"{source.topic}/{source.partition}",
            source.offset,
            rule.alpha,
        )
    return WindowRequest(
        rule.id,
        sampled.key,
        at,
        sampled.value,
        source.identity,
        rule.window,
        rule.readings,
    )


def _late(result: WindowResult | RunningResult) -> bool:
    if isinstance(result, WindowResult):
        return result.late
    return result.status == "late"


def _statistic(
    rule: TrendRule, sampled: Sampled, result: WindowResult | RunningResult
) -> float | None:
    if isinstance(result, WindowResult):
        return None if result.late else rule.statistic(result.samples)
    if result.status != "ok" or result.count < rule.min_samples:
        return None
    return round(z_score(sampled.value, result.mean, result.variance), 3)
