"""The no-data sweep: Celery beat runs it every ``--interval`` seconds on ``klaxon.sweep``.

For each stateful rule with ``no_data_seconds``, keys (devices) not heard from for that
long get one no-data alert each (raised atomically in Redis, so overlapping sweeps raise
it once); the next reading of that key resolves it in the bridge.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from functools import cache

from confluent_kafka import Producer

from alerts.events_topic import AlertEventTopic
from alerts.humanize import duration
from alerts.lifecycle import Lifecycle
from alerts.stage import no_data_event
from alerts.store import AlertStore
from contract.notification import Notification, Source, TransitionKind
from contract.publisher import CeleryPublisher
from contract.queues import SWEEP_TASK
from rules.compose import compose
from rules.config import load_config
from rules.engine import RuleEngine
from tasks.app_instance import app, task
from tasks.delayed import DelayedSet
from tasks.runtime import runtime

log = logging.getLogger(__name__)


@cache
def _alert_topic() -> AlertEventTopic:
    settings = runtime.settings
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "linger.ms": 5})
    return AlertEventTopic(producer, settings.schemas_dir, settings.alert_events_topic)


def sweep(now: float | None = None, publish_events: bool = True) -> list[Notification]:
    """Raise the no-data alerts due at ``now``; return the notifications enqueued."""
    now = time.time() if now is None else now
    settings = runtime.settings
    config = load_config(settings.rules_config_path, default_topic=settings.kafka_topic)
    lifecycle = Lifecycle(runtime.redis)
    store = AlertStore(runtime.redis)
    notifications: list[Notification] = []
    raised = []
    for rule in RuleEngine(config.rules).stateful_rules():
        if rule.no_data_seconds <= 0:
            continue
        cutoff = now - rule.no_data_seconds
        for key in lifecycle.stale(rule.id, cutoff):
            transition = lifecycle.raise_no_data(rule.id, key, cutoff, str(uuid.uuid4()))
            if transition is None:
                continue
            event = no_data_event(rule, key, transition)
            raised.append((event, TransitionKind.NO_DATA))
            silence = now - transition.triggered_at
            metric = rule.alert_terms().metric
            values = {
                "device_id": key,
                "state_key": key,
                "metric": metric,
                "alert_id": event.id,
                "transition": TransitionKind.NO_DATA.value,
                "silence": duration(silence),
                "silence_seconds": round(silence, 3),
                "last_seen": dt.datetime.fromtimestamp(transition.triggered_at, dt.UTC).isoformat(),
            }
            notifications.extend(
                compose(
                    rule,
                    rule.no_data_template,
                    {"device_id": key, "metric": metric},
                    Source(f"klaxon.no-data/{event.id}", 0, 0),
                    dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
                    transition=TransitionKind.NO_DATA,
                    values=values,
                    alert={"id": event.id, "state_key": key, "triggered_at": event.triggered_at},
                )
            )
            log.warning("no data from %s for rule %s for %s", key, rule.id, duration(silence))
    store.save([event for event, _ in raised])
    CeleryPublisher(app).publish(notifications)
    if raised and publish_events:
        topic = _alert_topic()
        topic.publish(raised)
        topic.flush()
    return notifications


@task(SWEEP_TASK, ignore_result=True)
def sweep_task() -> int:
    # A backstop for the workers' retry pumps (tasks.retry_pump).
    DelayedSet(runtime.redis).release()
    return len(sweep())
