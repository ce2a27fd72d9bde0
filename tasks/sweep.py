"""The sweep: Celery beat runs it every ``--interval`` seconds on ``klaxon.sweep``.

It raises no-data alerts (decided in ``alerts.no_data``, recorded by ``alerts.outcome``
as the bridge records its own), sends the reminders and escalation steps that fell due
(``alerts.followups``, through the same mute stage as the bridge's notifications), and the
notices of ended silences and catch-up summaries (``alerts.muting.sweep``). This module
only loads the rules and enqueues.
"""

from __future__ import annotations

import logging
import time
from functools import cache

from confluent_kafka import Producer

from alerts.events_topic import AlertEventTopic
from alerts.followups import FollowUps
from alerts.lifecycle import Lifecycle
from alerts.muting.stage import MuteStage
from alerts.muting.sweep import catch_up_summaries, silence_end_notices
from alerts.no_data import raise_due
from alerts.outcome import record_alerts
from alerts.store import AlertStore
from contract.faults import crash_point
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
    """Raise the no-data alerts and follow-ups due at ``now``, announce ended silences and
    send catch-up summaries; return the notifications enqueued."""
    now = time.time() if now is None else now
    settings = runtime.settings
    config = load_config(settings.rules_config_path, default_topic=settings.kafka_topic)
    rules = RuleEngine(config.rules).stateful_rules()
    raised = raise_due(rules, Lifecycle(runtime.redis), now, runtime.links)
    publisher = CeleryPublisher(app)
    muting = silence_end_notices(runtime.redis, now) + catch_up_summaries(
        runtime.redis, {rule.id: rule for rule in config.rules}, now
    )
    publisher.publish([*raised.notifications, *muting])
    topic = _alert_topic() if publish_events else None
    record_alerts(AlertStore(runtime.redis), topic, raised.events)
    # Published before they are taken: a sweep killed in between publishes the same task
    # ids again next time, and the sent-ledger sends them once. A reminder or step is
    # muted like any notification (silences, schedules, inhibition); a muted one is still
    # taken, so it does not pile up behind the mute.
    enabled = {rule.id: rule for rule in config.rules if rule.enabled}
    follow_ups = FollowUps(runtime.redis, links=runtime.links)
    plan = follow_ups.plan(enabled, now)
    stage = MuteStage(runtime.redis, enabled, config.inhibit)
    kept = stage.apply(plan.notifications, [], now).kept
    publisher.publish(kept)
    if plan.sends:
        crash_point("sweep_before_advance", settings.fault)
    follow_ups.advance(plan, now)
    return [*raised.notifications, *muting, *kept]


@task(SWEEP_TASK, ignore_result=True)
def sweep_task() -> int:
    # A backstop for the workers' retry pumps (tasks.retry_pump).
    DelayedSet(runtime.redis).release()
    return len(sweep())
