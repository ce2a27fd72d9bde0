"""Trend rules in the stateful stage: readings -> trend state in Redis -> verdict Readings.

The verdicts go through the usual lifecycle (alerts.lifecycle) as any threshold reading
does. A reading without a verdict yet (too little history) or dropped as out of order
(alerts.trends states the rule) gives no Reading: the lifecycle does not see it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from alerts.trends import (
    RunningRequest,
    RunningResult,
    TrendStore,
    WindowRequest,
    WindowResult,
)
from rules.reading import Reading
from rules.trends import Sampled, TrendRule, z_score

log = logging.getLogger(__name__)


class TrendStage:
    def __init__(self, store: TrendStore) -> None:
        self.store = store

    def readings(
        self, items: Sequence[tuple[Any, TrendRule, Sampled]], now: float
    ) -> list[tuple[Any, TrendRule, Reading]]:
        """The verdict of each trend reading that has one. Touches Redis (may raise)."""
        requests: list[WindowRequest | RunningRequest] = []
        for item, rule, sampled in items:
            at = sampled.at if sampled.at is not None else now
            source = item.source
            if rule.kind == "anomaly":
                requests.append(
                    RunningRequest(
                        rule.id,
                        sampled.key,
                        at,
                        sampled.value,
                        f"{source.topic}/{source.partition}",
                        source.offset,
                        rule.alpha,
                    )
                )
            else:
                requests.append(
                    WindowRequest(
                        rule.id,
                        sampled.key,
                        at,
                        sampled.value,
                        source.identity,
                        rule.window,
                        rule.readings,
                    )
                )
        verdicts: list[tuple[Any, TrendRule, Reading]] = []
        for (item, rule, sampled), result in zip(items, self.store.apply(requests), strict=True):
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
                continue
            holds = rule.holds(statistic)
            verdicts.append((item, rule, Reading(sampled.key, holds, not holds, statistic, at)))
        return verdicts


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
