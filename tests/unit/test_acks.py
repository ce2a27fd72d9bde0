"""Acknowledgement in a real Redis: the ack state machine, hits, follow-ups on an injected clock.

Alerts open as the bridge opens them (the stateful stage, the pipeline for hits); the
sweep's follow-ups are planned and taken as ``tasks.sweep`` does, with ``now`` injected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY

from alerts.acks import AckBook, AckError, AckState
from alerts.followups import FollowUps
from alerts.lifecycle import Lifecycle
from alerts.muting.silences import SilenceMuter, SilenceStore
from alerts.muting.stage import MuteStage
from alerts.stateful_stage import Change, StatefulStage
from alerts.store import AlertStore
from contract.notification import Notification, Source, TransitionKind
from history.database import make_engine
from history.queries import History
from ingest.cooldown import Cooldowns
from ingest.decoding import Decoder
from ingest.pipeline import Decoded, Pipeline
from ingest.queue_depth import update_queue_depth
from rules.engine import RuleEngine
from rules.model import BaseRule
from tests.support.databases import sqlite_url
from tests.support.fakes import Clock, FakeMessage
from tests.support.history import record_outbox
from tests.support.outbox import notification_records, read_outbox
from tests.support.rules import compile_rules

TOPIC = "devices.readings"
PLATES = "alpr.plates.detected"
T0 = 1_700_000_000.0
MINUTE = 60.0


def tank_rule(**extra: Any) -> dict[str, Any]:
    """temperature > 82 per device, on the webhook, with the alert id in its message."""
    return {
        "id": "tank_temperature_high",
        "type": "threshold",
        "metric": "temperature",
        "operator": ">",
        "threshold": 82.0,
        "notify": ["webhook"],
        "message_template": "{device_id} at {current_value} (alert {alert_id})",
        **extra,
    }


class Tank:
    """One tank's readings through the stateful stage, and the sweep's follow-ups."""

    def __init__(self, client: redis.Redis, **extra: Any) -> None:
        self.clock = Clock(now=T0)
        self.rules = compile_rules(tank_rule(**extra))
        engine = RuleEngine(self.rules)
        self.stage = StatefulStage(engine.stateful, Lifecycle(client), self.clock)
        self.book = AckBook(client)
        self.follow_ups = FollowUps(client, self.book)
        self.offset = 0

    def read(self, value: float) -> list[Change]:
        """A reading of tank-1 at the clock's time, as the next offset."""
        self.offset += 1
        event = {"device_id": "tank-1", "metric": "temperature", "value": value}
        source = Source(TOPIC, 0, self.offset)
        item = Decoded(FakeMessage(TOPIC, 0, self.offset, None), source, event)
        now = self.clock()
        return self.stage.apply(self.stage.observe(item, now), now)

    def trigger(self) -> str:
        (change,) = self.read(90.0)
        assert change.transition.kind == TransitionKind.TRIGGER
        return change.transition.alert_id

    def sweep(self, at: float) -> list[Notification]:
        """One sweep at ``at``: what it would publish, taken as the sweep takes it."""
        self.clock.now = at
        rules: dict[str, BaseRule] = {rule.id: rule for rule in self.rules}
        plan = self.follow_ups.plan(rules, at)
        self.follow_ups.advance(plan, at)
        return plan.notifications


def test_ack_unack_and_a_second_ack_follow_the_state_machine(redis_client: redis.Redis) -> None:
    """open -> acknowledged -> open; a second ack is refused; history keeps who, when, why."""
    tank = Tank(redis_client)
    alert = tank.trigger()
    book = tank.book

    assert book.ack(alert, "ana", "on my way", T0 + 60) == AckState.ACKNOWLEDGED
    with pytest.raises(AckError, match=f"alert {alert} is already acknowledged"):
        book.ack(alert, "bo", "", T0 + 61)
    assert book.unack(alert, "ana", "not fixed", T0 + 120) == AckState.OPEN
    with pytest.raises(AckError, match="is open, not acknowledged: there is nothing to unack"):
        book.unack(alert, "ana", "", T0 + 121)

    history = book.history(alert)
    assert [(e["action"], e.get("by"), e.get("comment"), e["at"]) for e in history] == [
        ("opened", None, None, T0),
        ("ack", "ana", "on my way", T0 + 60),
        ("unack", "ana", "not fixed", T0 + 120),
    ]
    record = book.get(alert)
    assert record is not None and (record.state, record.by) == (AckState.OPEN, "ana")


def test_acks_are_appended_to_the_outbox_stream(redis_client: redis.Redis) -> None:
    """Each ack and unack is one outbox entry with kind, alert id, who, why and when."""
    tank = Tank(redis_client)
    alert = tank.trigger()
    tank.book.ack(alert, "ana", "on it", T0 + 5)
    tank.book.unack(alert, "bo", "", T0 + 9)

    entries = [(e.kind, e.key, e.data) for e in read_outbox(redis_client) if e.kind != "alert"]
    assert entries == [
        (
            "ack",
            "",
            {
                "alert_id": alert,
                "actor": "ana",
                "note": "on it",
                "at": T0 + 5,
                "rule_id": "tank_temperature_high",
                "state": "acknowledged",
            },
        ),
        (
            "unack",
            "",
            {
                "alert_id": alert,
                "actor": "bo",
                "note": "",
                "at": T0 + 9,
                "rule_id": "tank_temperature_high",
                "state": "open",
            },
        ),
    ]


def test_what_the_lua_scripts_append_is_recorded_on_the_alerts_sql_timeline(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    """A reminder, an escalation step, an ack and an unack reach the history as timeline steps."""
    tank = Tank(redis_client, repeat=["7m"], escalation=ESCALATION[:1])
    alert = tank.trigger()
    assert len(tank.sweep(T0 + 7 * MINUTE)) == 1
    assert len(tank.sweep(T0 + 10 * MINUTE)) == 1
    tank.book.ack(alert, "ana", "on it", T0 + 11 * MINUTE)
    tank.book.unack(alert, "bo", "", T0 + 12 * MINUTE)

    url = sqlite_url(tmp_path)
    appended = len(read_outbox(redis_client))
    assert record_outbox(redis_client, url) == appended  # none skipped as undecodable
    engine = make_engine(url)
    try:
        steps = [(t.kind, t.actor, t.note, t.at) for t in History(engine).timeline(alert)]
        details = [t.detail for t in History(engine).timeline(alert)]
    finally:
        engine.dispose()
    assert steps == [
        ("reminder", "klaxon", "", T0 + 7 * MINUTE),
        ("escalation", "klaxon", "", T0 + 10 * MINUTE),
        ("ack", "ana", "on it", T0 + 11 * MINUTE),
        ("unack", "bo", "", T0 + 12 * MINUTE),
    ]
    rule = "tank_temperature_high"
    assert details == [
        {"rule_id": rule, "step": 1},
        {"rule_id": rule, "step": 1},
        {"rule_id": rule, "state": "acknowledged"},
        {"rule_id": rule, "state": "open"},
    ]


def test_acknowledging_an_unknown_or_resolved_alert_is_a_clear_error(
    redis_client: redis.Redis,
) -> None:
    """An unknown id names itself; a resolved alert says when it resolved; nothing changes."""
    tank = Tank(redis_client)
    alert = tank.trigger()
    tank.clock.now = T0 + 300
    tank.read(70.0)  # resolves

    with pytest.raises(AckError, match="no acknowledgeable alert with id 'nope-1234'"):
        tank.book.resolve_id("nope-1234")
    with pytest.raises(AckError, match="no acknowledgeable alert with id 'nope'"):
        tank.book.ack("nope", "ana", "", T0)
    with pytest.raises(
        AckError,
        match=rf"alert {alert} is already resolved \(at 2023-11-14T22:18:20\+00:00\): "
        "there is nothing to ack",
    ):
        tank.book.ack(alert, "ana", "", T0 + 400)
    assert [e["action"] for e in tank.book.history(alert)] == ["opened", "resolved"]
    assert [e.kind for e in read_outbox(redis_client) if e.kind != "alert"] == []


def test_a_stateful_alert_cannot_be_rejected(redis_client: redis.Redis) -> None:
    """reject is for hits; a stateful alert says to acknowledge instead."""
    tank = Tank(redis_client)
    alert = tank.trigger()
    with pytest.raises(AckError, match="only a hit can be rejected"):
        tank.book.reject(alert, "ana", "misread", T0 + 1)


def test_an_id_prefix_as_the_tables_show_it_finds_the_alert(redis_client: redis.Redis) -> None:
    """The 8-character prefix of ``klaxon alerts active`` resolves to the full id."""
    tank = Tank(redis_client)
    alert = tank.trigger()
    assert tank.book.resolve_id(alert[:8]) == alert


def test_reminders_come_at_5m_and_15m_gaps_the_last_repeats_and_ack_stops_them(
    redis_client: redis.Redis,
) -> None:
    """repeat [5m, 15m]: reminders at 5m, 20m, 35m; none after the ack at 36m."""
    tank = Tank(redis_client, repeat=["5m", "15m"])
    alert = tank.trigger()

    sent = {at: tank.sweep(T0 + at * MINUTE) for at in (4, 5, 6, 19, 20, 35)}
    assert {at: [n.transition for n in found] for at, found in sent.items()} == {
        4: [],
        5: [TransitionKind.REMINDER],
        6: [],
        19: [],
        20: [TransitionKind.REMINDER],
        35: [TransitionKind.REMINDER],
    }
    assert sent[5][0].message == f"tank-1 at 90.0 (alert {alert})"

    tank.book.ack(alert, "ana", "", T0 + 36 * MINUTE)
    assert [tank.sweep(T0 + at * MINUTE) for at in (50, 65, 200)] == [[], [], []]
    reminders = [e for e in read_outbox(redis_client) if e.kind == "reminder"]
    assert [(e.data["step"], e.data["actor"]) for e in reminders] == [
        (1, "klaxon"),
        (2, "klaxon"),
        (3, "klaxon"),
    ]
    assert [e.key for e in reminders] == [f"{alert}|reminder|{n}" for n in (1, 2, 3)]


def test_repeat_interval_is_the_one_element_form_and_resolve_stops_it(
    redis_client: redis.Redis,
) -> None:
    """repeat_interval 5m reminds every 5 minutes until the alert resolves."""
    tank = Tank(redis_client, repeat_interval="5m")
    tank.trigger()
    counts = [len(tank.sweep(T0 + at * MINUTE)) for at in (5, 10, 15)]
    tank.clock.now = T0 + 16 * MINUTE
    tank.read(70.0)
    assert counts == [1, 1, 1]
    assert tank.sweep(T0 + 20 * MINUTE) == []


def test_unack_resumes_the_reminders(redis_client: redis.Redis) -> None:
    """An ack drops the due reminder; unack schedules the next one a gap later."""
    tank = Tank(redis_client, repeat=["5m"])
    alert = tank.trigger()
    tank.book.ack(alert, "ana", "", T0 + MINUTE)
    assert tank.sweep(T0 + 5 * MINUTE) == []
    tank.book.unack(alert, "ana", "", T0 + 6 * MINUTE)
    assert tank.sweep(T0 + 10 * MINUTE) == []
    assert [n.transition for n in tank.sweep(T0 + 11 * MINUTE)] == [TransitionKind.REMINDER]


ESCALATION = [
    {"after": "10m", "notify": ["sms"], "recipients": {"sms": ["+15550100002"]}},
    {"after": "30m", "notify": ["email"]},
]


def test_escalation_step_1_fires_and_step_2_does_not_after_an_ack(
    redis_client: redis.Redis,
) -> None:
    """Step 1 at 10m goes to its SMS recipient, once; an ack at 20m stops step 2 at 30m."""
    tank = Tank(redis_client, escalation=ESCALATION)
    alert = tank.trigger()

    assert tank.sweep(T0 + 9 * MINUTE) == []
    (step,) = tank.sweep(T0 + 10 * MINUTE)
    assert (step.channel, step.recipients, step.transition) == (
        "sms",
        ["+15550100002"],
        TransitionKind.ESCALATION,
    )
    assert step.message == f"tank-1 at 90.0 (alert {alert})"
    assert tank.sweep(T0 + 11 * MINUTE) == []

    tank.book.ack(alert, "ana", "", T0 + 20 * MINUTE)
    assert tank.sweep(T0 + 31 * MINUTE) == []
    kinds = [(e.kind, e.data.get("step")) for e in read_outbox(redis_client) if e.kind != "alert"]
    assert kinds == [("escalation", 1), ("ack", None)]


def test_two_sweeps_of_one_due_step_send_the_same_task_ids_and_take_it_once(
    redis_client: redis.Redis,
) -> None:
    """A sweep rerun after a crash, or a second sweeper, plans the same ids; one takes it."""
    tank = Tank(redis_client, escalation=ESCALATION[:1])
    tank.trigger()
    rules: dict[str, BaseRule] = {rule.id: rule for rule in tank.rules}
    now = T0 + 10 * MINUTE

    first = tank.follow_ups.plan(rules, now)
    second = tank.follow_ups.plan(rules, now)  # the first was killed before advancing
    assert [n.id for n in first.notifications] == [n.id for n in second.notifications]
    assert len(first.notifications) == 1

    taken = tank.follow_ups.advance(second, now) + tank.follow_ups.advance(first, now)
    assert len(taken) == 1
    assert tank.follow_ups.plan(rules, now + 3600).notifications == []


def test_the_resolve_of_an_acknowledged_alert_is_still_notified(
    redis_client: redis.Redis,
) -> None:
    """notify_on_resolve sends the resolve of an acknowledged alert; the record says resolved."""
    tank = Tank(redis_client, notify_on_resolve=True)
    alert = tank.trigger()
    tank.book.ack(alert, "ana", "", T0 + 1)
    tank.clock.now = T0 + 120
    changes = tank.read(70.0)
    built = tank.stage.notifications(changes, "2023-11-14T22:15:20+00:00")
    assert [n.transition for n in built] == [TransitionKind.RESOLVE]
    record = tank.book.get(alert)
    assert record is not None and (record.state, record.by) == (AckState.RESOLVED, "ana")


HOTLIST: dict[str, Any] = {
    "id": "stolen_plate",
    "source": PLATES,
    "acknowledge": True,
    "conditions": [{"field": "plate.normalized_text", "operator": "equals", "value": "ABC123"}],
    "notify": ["webhook"],
    "message_template": "{plate.normalized_text} at {camera_id}: ack with {alert_id}",
    "repeat": ["5m"],
}


def hit_pipeline(client: redis.Redis, clock: Clock) -> Pipeline:
    engine = RuleEngine(compile_rules(HOTLIST, default_topic=PLATES))
    stage = StatefulStage(engine.stateful, Lifecycle(client), clock)
    decoders = {PLATES: Decoder(PLATES, "json")}
    return Pipeline(engine, decoders, Cooldowns(client), stage, clock)


def test_a_hit_opens_an_alert_with_an_id_in_its_message_and_reject_closes_it(
    redis_client: redis.Redis,
) -> None:
    """A hotlist hit is an open alert (id in the message); reject closes it with the reason."""
    clock = Clock(now=T0)
    event = {"camera_id": "gate", "plate": {"normalized_text": "ABC123"}}
    batch = [FakeMessage(PLATES, 0, 7, json.dumps(event).encode())]
    outcome = hit_pipeline(redis_client, clock).process(batch)

    ((record, transition),) = outcome.alert_events
    assert (record.kind, record.device_id, transition) == ("hit", "ABC123", TransitionKind.MATCH)
    (sent,) = outcome.notifications
    assert sent.message == f"ABC123 at gate: ack with {record.id}"
    assert sent.alert == {"id": record.id}

    store = AlertStore(redis_client)
    store.save([record])
    book = AckBook(redis_client)
    assert book.reject(record.id, "ana", "misread", T0 + 30) == AckState.REJECTED
    assert [e.id for e in store.active()] == []
    with pytest.raises(AckError, match="is already rejected"):
        book.reject(record.id, "ana", "misread", T0 + 31)
    rejects = [e.data for e in read_outbox(redis_client) if e.kind == "reject"]
    assert [(e["alert_id"], e["note"], e["actor"], e["state"]) for e in rejects] == [
        (record.id, "misread", "ana", "rejected")
    ]
    # Its reminder was due at 5m: the reject dropped it.
    rules: dict[str, BaseRule] = {"stolen_plate": compile_rules(HOTLIST)[0]}
    assert FollowUps(redis_client).plan(rules, T0 + 600).notifications == []


def test_a_replayed_hit_opens_nothing_twice(redis_client: redis.Redis) -> None:
    """The same event processed again has the same alert id and one history entry."""
    clock = Clock(now=T0)
    event = {"camera_id": "gate", "plate": {"normalized_text": "ABC123"}}
    batch = [FakeMessage(PLATES, 0, 7, json.dumps(event).encode())]
    pipeline = hit_pipeline(redis_client, clock)
    first = pipeline.process(batch).alert_events[0][0].id
    clock.now += 5
    again = pipeline.process(batch).alert_events[0][0].id
    assert first == again
    assert [e["action"] for e in AckBook(redis_client).history(first)] == ["opened"]


def test_acks_reminders_and_steps_are_counted_by_rule_for_the_metrics(
    redis_client: redis.Redis,
) -> None:
    """klaxon_alert_actions{action, rule_id} shows the totals Redis keeps."""
    tank = Tank(redis_client, repeat=["5m"], escalation=ESCALATION[:1])
    alert = tank.trigger()
    tank.sweep(T0 + 5 * MINUTE)
    tank.sweep(T0 + 10 * MINUTE)
    tank.book.ack(alert, "ana", "", T0 + 11 * MINUTE)

    update_queue_depth(redis_client, [])

    def gauge(action: str) -> float | None:
        labels = {"action": action, "rule_id": "tank_temperature_high"}
        return REGISTRY.get_sample_value("klaxon_alert_actions", labels)

    assert (gauge("reminder"), gauge("escalation"), gauge("ack")) == (2.0, 1.0, 1.0)


def test_an_acknowledged_hit_leaves_the_active_list_and_unack_brings_it_back(
    redis_client: redis.Redis,
) -> None:
    """ack closes a hit (not active); unack opens it again."""
    clock = Clock(now=T0)
    event = {"camera_id": "gate", "plate": {"normalized_text": "ABC123"}}
    batch = [FakeMessage(PLATES, 0, 9, json.dumps(event).encode())]
    ((record, _),) = hit_pipeline(redis_client, clock).process(batch).alert_events
    store, book = AlertStore(redis_client), AckBook(redis_client)
    store.save([record])

    book.ack(record.id, "ana", "stopped the car", T0 + 10)
    assert store.active() == []
    book.unack(record.id, "ana", "wrong car", T0 + 20)
    assert [e.id for e in store.active()] == [record.id]


def test_a_silenced_alerts_reminder_is_muted_by_the_sweep_and_by_the_worker(
    redis_client: redis.Redis,
) -> None:
    """A silence on the device mutes its reminder in the sweep's mute stage and the worker."""
    tank = Tank(redis_client, repeat=["5m"])
    alert = tank.trigger()
    silence = SilenceStore(redis_client).add(["device_id=tank-1"], 3600, now=T0)
    rules: dict[str, BaseRule] = {rule.id: rule for rule in tank.rules}

    plan = tank.follow_ups.plan(rules, T0 + 5 * MINUTE)
    (reminder,) = plan.notifications
    assert MuteStage(redis_client, rules).apply(plan.notifications, [], T0 + 5 * MINUTE).kept == []
    worker_check = SilenceMuter(SilenceStore(redis_client), refresh=0.0)
    assert worker_check.mutes(reminder, T0 + 5 * MINUTE) is not None
    (record,) = notification_records(redis_client)
    assert (record.data["transition"], record.data["status"], record.data["ref"]) == (
        "reminder",
        "silenced",
        silence.id,
    )
    assert record.data["alert_id"] == alert
    # Still taken: the next reminder is due a gap later, not piled up behind the silence.
    tank.follow_ups.advance(plan, T0 + 5 * MINUTE)
    assert [n.transition for n in tank.sweep(T0 + 10 * MINUTE)] == [TransitionKind.REMINDER]
    assert reminder.alert is not None and reminder.alert["id"] == alert
