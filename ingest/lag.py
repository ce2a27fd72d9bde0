"""Consumer lag per assigned partition, as ``klaxon_consumer_lag{topic,partition}``.

Lag is the high watermark the client last saw (cached from fetch responses: no broker
round trip) minus the consumer's position. Partitions without both numbers yet are left
out; partitions no longer assigned lose their series. Nothing here may disturb the consume
loop: every failure is logged at debug and swallowed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Set

from confluent_kafka import Consumer, TopicPartition

from contract import metrics

log = logging.getLogger(__name__)

# Series this process has set, so those of revoked partitions can be removed.
_reported: set[tuple[str, int]] = set()


def update_lag(consumer: Consumer, assigned: Set[tuple[str, int]]) -> None:
    """Set the lag gauge of every assigned partition; never raises."""
    try:
        current = set(assigned)
        for topic, partition in _reported - current:
            metrics.consumer_lag.remove(topic, str(partition))
        _reported.intersection_update(current)
        if not current:
            return
        positions = consumer.position([TopicPartition(t, p) for t, p in sorted(current)])
        for position in positions:
            key = (position.topic, position.partition)
            _low, high = consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
            if high < 0 or position.offset < 0:
                continue  # nothing fetched or consumed yet on this partition
            metrics.consumer_lag.labels(key[0], str(key[1])).set(max(high - position.offset, 0))
            _reported.add(key)
    except Exception as exc:  # noqa: BLE001 - metrics must never stop the bridge
        log.debug("consumer lag not updated: %r", exc)


def total_lag() -> float:
    """The sum of this process's lag gauges: messages behind, over its partitions."""
    return sum(
        sample.value
        for family in metrics.consumer_lag.collect()
        for sample in family.samples
        if sample.name == "klaxon_consumer_lag"
    )


def lag_below(bound: int) -> Callable[[], tuple[bool, str]]:
    """A health check: the bridge's consumer lag is at most ``bound`` messages."""

    def check() -> tuple[bool, str]:
        lag = total_lag()
        if lag > bound:
            return False, f"consumer lag {lag:g} above {bound}"
        return True, f"consumer lag {lag:g}"

    return check


class Throttle:
    """True at most once per ``interval`` seconds: for work the consume loop does now and then."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._next = 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval
        return True
