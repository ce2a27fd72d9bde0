"""The sweep: Celery beat runs it every ``--interval`` seconds on ``klaxon.sweep``.

What a sweep raises is decided in ``alerts.no_data`` and recorded by ``alerts.outcome``,
as the bridge records its own alerts; the notices of ended silences and the catch-up
summaries are decided in ``alerts.muting.sweep``. This module only loads the rules and
enqueues.
"""

from __future__ import annotations

import logging
import time
from functools import cache

from confluent_kafka import Producer

from alerts.events_topic import AlertEventTopic
from alerts.lifecycle import Lifecycle
from alerts.muting.sweep import catch_up_summaries, silence_end_notices
from alerts.no_data import raise_due
from alerts.outcome import record_alerts
from alerts.store import AlertStore
from contract.notification import Notification
from contract.publisher import CeleryPublisher
from contract.queues import SWEEP_TASK
from rules.config import load_config
from rules.engine import RuleEngine
from tasks.app_instance import app, runtime, task
from tasks.delayed import DelayedSet

log = logging.getLogger(__name__)


@cache
def _alert_topic() -> AlertEventTopic:
    settings = runtime.settings
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "linger.ms": 5})
    return AlertEventTopic(producer, settings.schemas_dir, settings.alert_events_topic)


def sweep(now: float | None = None, publish_events: bool = True) -> list[Notification]:
    """Raise the no-data alerts due at ``now``, announce ended silences and send catch-up
    summaries; return the notifications enqueued."""
    now = time.time() if now is None else now
    settings = runtime.settings
    config = load_config(settings.rules_config_path, default_topic=settings.kafka_topic)
    rules = RuleEngine(config.rules).stateful_rules()
    raised = raise_due(rules, Lifecycle(runtime.redis), now)
    muting = silence_end_notices(runtime.redis, now) + catch_up_summaries(
        runtime.redis, {rule.id: rule for rule in config.rules}, now
    )
    CeleryPublisher(app).publish([*raised.notifications, *muting])
    topic = _alert_topic() if publish_events else None
    record_alerts(AlertStore(runtime.redis), topic, raised.events)
    return [*raised.notifications, *muting]


@task(SWEEP_TASK, ignore_result=True)
def sweep_task() -> int:
    # A backstop for the workers' retry pumps (tasks.retry_pump).
    DelayedSet(runtime.redis).release()
    return len(sweep())
