"""The mute stage in the bridge's pipeline and the muting sweep, on the real Redis, with an
injected clock: schedules, catch-up summaries, resolves after a silence, silence endings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis
import sqlalchemy as sa
from prometheus_client import REGISTRY

from alerts.muting.silences import SilenceStore
from alerts.muting.sweep import catch_up_summaries, silence_end_notices
from alerts.store import AlertStore
from contract.jsonsafe import JsonObject
from contract.notification import TransitionKind
from contract.outbox import OUTBOX_STREAM, Kind
from history.database import make_engine
from history.models import SilenceAuditRow
from rules.config import load_config
from tests.support.databases import sqlite_url
from tests.support.fakes import Clock
from tests.support.history import record_outbox
from tests.support.muting import TOPIC, PipelineOnClock
from tests.support.outbox import notification_records, read_outbox

T0 = 1_780_000_000.0
NEW_YORK = ZoneInfo("America/New_York")
# Sunday 1 March 2026, 02:30 in New York (07:30 UTC).
SUNDAY_0230_NY = dt.datetime(2026, 3, 1, 2, 30, tzinfo=NEW_YORK).timestamp()

INTERVALS = [
    {
        "name": "weekly_maintenance",
        "time_intervals": [
            {
                "weekdays": ["sunday"],
                "times": [{"start_time": "02:00", "end_time": "03:00"}],
                "location": "America/New_York",
            }
        ],
    }
]


def tank_rule(**extra: Any) -> dict[str, Any]:
    return {
        "id": "tank_temperature_high",
        "source": TOPIC,
        "conditions": [{"field": "temperature", "operator": "greater_than", "value": 30}],
        "notify": ["webhook"],
        "message_template": "{device_id} at {temperature}",
        **extra,
    }


def outbox(client: redis.Redis) -> list[JsonObject]:
    return [r.data for r in notification_records(client)]


def muted_count(rule_id: str, status: str) -> float:
    labels = {"rule_id": rule_id, "status": status}
    found = REGISTRY.get_sample_value("klaxon_notifications_muted_total", labels)
    return found or 0.0


def make_bridge(
    write_config: Callable[..., Path], redis_client: redis.Redis, now: float, *rules: Any
) -> PipelineOnClock:
    path = write_config(
        {"webhook": {"url": "http://127.0.0.1:9/x"}}, list(rules), time_intervals=INTERVALS
    )
    return PipelineOnClock(redis_client, load_config(path), Clock(now))


def test_a_mute_interval_at_0200_on_sunday_in_the_rules_zone_mutes_and_records(
    write_config: Callable[..., Path], redis_client: redis.Redis
) -> None:
    """02:30 on Sunday in New York is muted and recorded; 02:30 UTC (Saturday there) is not."""
    bridge = make_bridge(
        write_config,
        redis_client,
        SUNDAY_0230_NY,
        tank_rule(mute_time_intervals=["weekly_maintenance"]),
    )
    before = muted_count("tank_temperature_high", "muted")
    assert bridge.send(device_id="display-tank", temperature=31) == []
    assert muted_count("tank_temperature_high", "muted") == before + 1
    (record,) = outbox(redis_client)
    assert record["status"] == "muted" and record["ref"] == "weekly_maintenance"
    assert record["rule_id"] == "tank_temperature_high" and record["channel"] == "webhook"
    assert record["at"] == dt.datetime(2026, 3, 1, 7, 30, tzinfo=dt.UTC).timestamp()

    bridge.clock.now = dt.datetime(2026, 3, 1, 2, 30, tzinfo=dt.UTC).timestamp()
    (sent,) = bridge.send(device_id="display-tank", temperature=32)
    assert sent.message == "display-tank at 32"
    bridge.clock.now = SUNDAY_0230_NY + 1800  # 03:00 in New York: the end is exclusive
    assert len(bridge.send(device_id="display-tank", temperature=33)) == 1


def test_an_active_interval_arms_the_rule_only_inside_it(
    write_config: Callable[..., Path], redis_client: redis.Redis
) -> None:
    """Outside its active interval a rule is muted, inside it sends."""
    bridge = make_bridge(
        write_config,
        redis_client,
        SUNDAY_0230_NY - 3600,
        tank_rule(active_time_intervals=["weekly_maintenance"]),
    )
    assert bridge.send(device_id="t", temperature=31) == []
    assert outbox(redis_client)[0]["reason"] == "outside active intervals weekly_maintenance"
    bridge.clock.now = SUNDAY_0230_NY
    assert len(bridge.send(device_id="t", temperature=31)) == 1


def test_catch_up_sends_one_summary_per_rule_and_channel_when_the_interval_ends(
    write_config: Callable[..., Path], redis_client: redis.Redis
) -> None:
    """Two held-back matches make one summary, only once the interval is over, only once."""
    bridge = make_bridge(
        write_config,
        redis_client,
        SUNDAY_0230_NY,
        tank_rule(mute_time_intervals=["weekly_maintenance"], catch_up=True),
    )
    assert bridge.send(device_id="display-tank", temperature=31) == []
    bridge.clock.now += 60
    assert bridge.send(device_id="sump", temperature=35) == []
    assert catch_up_summaries(redis_client, bridge.rules, SUNDAY_0230_NY + 1799) == []

    end = SUNDAY_0230_NY + 1800
    (summary,) = catch_up_summaries(redis_client, bridge.rules, end)
    assert summary.transition == TransitionKind.CATCH_UP
    assert summary.channel == "webhook" and summary.rule_id == "tank_temperature_high"
    assert summary.message.splitlines() == [
        "tank_temperature_high: 2 notification(s) held back during weekly_maintenance:",
        "- 2026-03-01T07:30:00+00:00: display-tank at 31",
        "- 2026-03-01T07:31:00+00:00: sump at 35",
    ]
    assert summary.event["held_back"] == 2
    assert catch_up_summaries(redis_client, bridge.rules, end + 60) == []


STATEFUL = {
    "state_key": "device_id",
    "notify_on_resolve": True,
    "resolve_template": "{state_key} resolved",
}


def test_the_resolve_of_a_silenced_trigger_is_muted_unless_resolve_when_silenced(
    write_config: Callable[..., Path], redis_client: redis.Redis
) -> None:
    """The silenced trigger's resolve is muted; with resolve_when_silenced it is sent."""
    bridge = make_bridge(
        write_config,
        redis_client,
        SUNDAY_0230_NY - 86400,
        tank_rule(**STATEFUL),
        tank_rule(**STATEFUL, id="tank_ph_low", resolve_when_silenced=True),
    )
    store = SilenceStore(redis_client)
    silence = store.add(["device_id=display-tank"], 600, now=bridge.clock.now)
    assert bridge.send(device_id="display-tank", temperature=31) == []  # both rules trigger
    store.expire(silence.id, now=bridge.clock.now + 1)
    bridge.clock.now += 2

    (resolve,) = bridge.send(device_id="display-tank", temperature=20)
    assert resolve.rule_id == "tank_ph_low" and resolve.transition == TransitionKind.RESOLVE
    records = outbox(redis_client)
    assert [(r["rule_id"], r["transition"], r["status"]) for r in records] == [
        ("tank_temperature_high", "trigger", "silenced"),
        ("tank_ph_low", "trigger", "silenced"),
        ("tank_temperature_high", "resolve", "silenced"),
    ]
    assert records[0]["ref"] == silence.id
    assert records[2]["reason"] == "its trigger was silenced (set resolve_when_silenced to send it)"


def test_a_silence_that_ends_while_its_alert_fires_says_so_once(
    write_config: Callable[..., Path], redis_client: redis.Redis
) -> None:
    """The alert's history notes the silence; one notice for the alert still firing when
    the silence ends, none for the one that resolved, none twice."""
    bridge = make_bridge(write_config, redis_client, SUNDAY_0230_NY - 86400, tank_rule(**STATEFUL))
    store = SilenceStore(redis_client)
    start = bridge.clock.now
    silence = store.add(["rule_id=~tank_.*"], 600, comment="water change", now=start)
    bridge.send(device_id="display-tank", temperature=31)
    bridge.send(device_id="sump", temperature=31)
    bridge.send(device_id="sump", temperature=20)  # resolved while silenced
    (firing,) = AlertStore(redis_client).active()  # the lifecycle went on, unheard
    assert firing.device_id == "display-tank"
    assert firing.metadata["muted.webhook"] == (
        f"silenced: silence {silence.id} (rule_id=~tank_.*): water change"
    )
    assert silence_end_notices(redis_client, start + 599) == []  # not ended yet

    (notice,) = silence_end_notices(redis_client, start + 600)
    assert notice.transition == TransitionKind.SILENCE_ENDED
    assert notice.message == f"Silence {silence.id} ended; still firing: display-tank at 31"
    assert silence_end_notices(redis_client, start + 700) == []


def test_adding_and_expiring_a_silence_leave_its_audit_trail_in_the_history(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Add and expire each append a silence_audit record, and the recorder stores both in SQL."""
    store = SilenceStore(redis_client)
    silence = store.add(
        ["rule_id=tank_temperature_high"], 600, comment="water change", created_by="ana", now=T0
    )
    store.expire(silence.id, now=T0 + 60, by="bo", reason="done early")
    store.expire(silence.id, now=T0 + 120, by="bo")  # already over: no second record

    window = {"matchers": ["rule_id=tank_temperature_high"], "starts_at": T0}
    audits = [r.data for r in read_outbox(redis_client) if r.kind == Kind.SILENCE]
    assert audits == [
        {
            "silence_id": silence.id,
            "action": "created",
            "actor": "ana",
            "matchers": {**window, "ends_at": T0 + 600},
            "reason": "water change",
            "at": T0,
        },
        {
            "silence_id": silence.id,
            "action": "expired",
            "actor": "bo",
            "matchers": {**window, "ends_at": T0 + 60},
            "reason": "done early",
            "at": T0 + 60,
        },
    ]

    url = sqlite_url(tmp_path)
    appended = len(read_outbox(redis_client))
    assert record_outbox(redis_client, url) == appended  # none skipped as undecodable
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    SilenceAuditRow.silence_id,
                    SilenceAuditRow.action,
                    SilenceAuditRow.actor,
                    SilenceAuditRow.reason,
                    SilenceAuditRow.at,
                ).order_by(SilenceAuditRow.at)
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        (silence.id, "created", "ana", "water change", T0),
        (silence.id, "expired", "bo", "done early", T0 + 60),
    ]


def test_a_silence_stands_when_its_audit_record_cannot_be_appended(
    redis_client: redis.Redis,
) -> None:
    """An outbox append that Redis refuses is only logged: the silence is added and expired."""
    redis_client.set(OUTBOX_STREAM, "not a stream")  # XADD now fails with WRONGTYPE
    store = SilenceStore(redis_client)
    silence = store.add(["rule_id=tank_temperature_high"], 600, created_by="ana", now=T0)
    assert store.get(silence.id) == silence
    ended = store.expire(silence.id, now=T0 + 60, by="bo")
    assert ended is not None
    assert store.get(silence.id) == ended
    assert ended.ends_at == T0 + 60
