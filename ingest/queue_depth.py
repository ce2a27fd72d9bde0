"""Queue depths and dead letters, read from Redis into gauges (sampled by the bridge).

kombu's Redis transport keeps a queue as a Redis list named after it (``notify.webhook``),
plus one list per non-zero priority step (``notify.webhook\\x06\\x163`` ...); the depth is
their sum. Tasks a worker took but has not acknowledged (running sends) sit in the
``unacked`` hash instead; retries wait in the delayed set (``klaxon:delayed``, tasks/delayed.py).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable

import redis

from alerts.acks import action_counts
from alerts.store import ACTIVE_KEY
from contract import metrics
from contract.queues import DEAD_LETTERS_KEY as RECORDS_KEY
from contract.queues import queue_for

log = logging.getLogger(__name__)

PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)  # kombu's defaults besides 0, which has the bare name
UNACKED_KEY = "unacked"


def queue_lists(queue: str) -> list[str]:
    return [queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS)]


def queue_depths(client: redis.Redis, channels: Iterable[str]) -> dict[str, int]:
    """Waiting tasks per ``notify.<channel>`` queue."""
    queues = [queue_for(channel) for channel in channels]
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for name in queue_lists(queue):
            pipe.llen(name)
    lengths = iter(pipe.execute())
    steps = len(PRIORITY_STEPS) + 1
    return {queue: sum(int(next(lengths)) for _ in range(steps)) for queue in queues}


def dead_letters_by_channel(client: redis.Redis) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _letter_id, raw in client.hscan_iter(RECORDS_KEY, count=500):
        try:
            counts[str(json.loads(raw)["channel"])] += 1
        except (ValueError, KeyError, TypeError):
            counts["unknown"] += 1
    return counts


def active_alerts_by_rule(client: redis.Redis) -> Counter[str]:
    """Alerts not yet resolved, per rule (``klaxon:alerts:active`` maps alert id -> rule id)."""
    return Counter(
        rule.decode() if isinstance(rule, bytes) else str(rule) for rule in client.hvals(ACTIVE_KEY)
    )


_reported_rules: set[str] = set()


def update_queue_depth(client: redis.Redis, channels: Iterable[str]) -> None:
    """Set the queue, unacked, dead-letter, active-alert and alert-action gauges; never raises."""
    channels = list(channels)
    try:
        for queue, depth in queue_depths(client, channels).items():
            metrics.queue_depth.labels(queue).set(depth)
        metrics.unacked_tasks.set(int(client.hlen(UNACKED_KEY)))
        dead = dead_letters_by_channel(client)
        for channel in {*channels, *dead}:
            metrics.dead_letters.labels(channel).set(dead.get(channel, 0))
        active = active_alerts_by_rule(client)
        for rule_id in _reported_rules | set(active):  # a rule back to 0 shows 0
            metrics.active_alerts.labels(rule_id).set(active.get(rule_id, 0))
        _reported_rules.update(active)
        for (action, rule_id), count in action_counts(client).items():
            metrics.alert_actions.labels(action, rule_id).set(count)
    except Exception as exc:  # noqa: BLE001 - metrics must never stop the bridge
        log.debug("queue depth not updated: %r", exc)
