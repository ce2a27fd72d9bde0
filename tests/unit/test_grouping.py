"""Grouping and storm mode in the bridge's pipeline, against a real Redis, on an injected clock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY

from alerts.grouping import DUE, PENDING, GroupStore, StormMeter
from alerts.lifecycle import Lifecycle
from alerts.stateful_stage import StatefulStage
from contract.notification import Notification
from contract.problems import ProblemSink
from ingest.cooldown import Cooldowns
from ingest.decoding import Decoder
from ingest.group_flusher import GroupFlusher
from ingest.grouping_stage import GroupingStage
from ingest.pipeline import Pipeline
from rules.engine import RuleEngine
from rules.grouping import GroupWindow, render_group
from rules.loader import load_rules
from rules.model import Rule
from rules.templates import compile_template
from tests.support.fakes import Clock, FakeMessage
from tests.support.rules import ALL_CHANNELS, compile_rules

TOPIC = "alpr.plates.detected"

STOLEN: dict[str, Any] = {
    "id": "stolen",
    "name": "Stolen pattern",
    "source": TOPIC,
    "conditions": [{"field": "plate.normalized_text", "operator": "regex", "value": "^S"}],
    "notify": ["webhook", "sms", "email"],
    "message_template": "{plate.normalized_text} at {camera_id}",
    "group": {"by": ["camera_id"], "wait": "10s", "interval": "1m", "max_items": 5},
    "group_template": "{count} stolen-pattern hits at {group.camera_id}:\n{items}",
}


class RecordingPublisher:
    """Keeps what the flusher enqueues, in order."""

    def __init__(self) -> None:
        self.published: list[Notification] = []

    def publish(self, notifications: Sequence[Notification]) -> None:
        self.published.extend(notifications)


def build(redis_client: redis.Redis, clock: Clock, *rules: dict[str, Any]) -> Pipeline:
    compiled = compile_rules(*rules)
    engine = RuleEngine(compiled)
    grouped = {r.id: r for r in compiled if isinstance(r, Rule)}
    stage = GroupingStage(GroupStore(redis_client), StormMeter(redis_client), grouped, clock)
    stateful = StatefulStage(engine.stateful, Lifecycle(redis_client), clock)
    decoders = {TOPIC: Decoder(TOPIC, "json")}
    return Pipeline(engine, decoders, Cooldowns(redis_client), stateful, clock, grouping=stage)


def hits(count: int, cameras: int = 3, first_offset: int = 0) -> list[FakeMessage]:
    return [
        FakeMessage(
            TOPIC,
            0,
            first_offset + n,
            json.dumps(
                {"camera_id": f"cam-{n % cameras}", "plate": {"normalized_text": f"S{n:05d}"}}
            ).encode(),
        )
        for n in range(count)
    ]


def flush(pipeline: Pipeline, redis_client: redis.Redis, clock: Clock) -> list[Notification]:
    publisher = RecordingPublisher()
    assert pipeline.grouping is not None
    GroupFlusher(GroupStore(redis_client), publisher, clock).flush(pipeline.grouping.rules)
    return publisher.published


def count_in(notification: Notification) -> int:
    return int(notification.message.split(" ", 1)[0])


def test_matches_of_a_grouped_rule_make_one_message_per_camera_and_channel_after_wait(
    redis_client: redis.Redis,
) -> None:
    """300 matches over 3 cameras send nothing at once, then 3 messages per channel counting 300."""
    clock = Clock()
    pipeline = build(redis_client, clock, STOLEN)
    outcome = pipeline.process(hits(300))
    assert outcome.notifications == []
    clock.now += 9.5
    assert flush(pipeline, redis_client, clock) == []
    clock.now += 0.5
    sent = flush(pipeline, redis_client, clock)
    for channel in ("webhook", "sms", "email"):
        mine = [n for n in sent if n.channel == channel]
        assert len(mine) == 3
        assert sum(count_in(n) for n in mine) == 300
    webhook = [n for n in sent if n.channel == "webhook"]
    cam0 = next(n for n in webhook if n.event["camera_id"] == "cam-0")
    assert cam0.message.splitlines() == [
        "100 stolen-pattern hits at cam-0:",
        "S00000 at cam-0",
        "S00003 at cam-0",
        "S00006 at cam-0",
        "S00009 at cam-0",
        "S00012 at cam-0",
        "and 95 more",
    ]
    assert flush(pipeline, redis_client, clock) == []


def test_a_replayed_batch_adds_nothing_and_a_claimed_window_republishes_with_the_same_ids(
    redis_client: redis.Redis,
) -> None:
    """Replays count once; a window published twice (crash before done) keeps its task ids."""
    clock = Clock()
    pipeline = build(redis_client, clock, STOLEN)
    pipeline.process(hits(30))
    pipeline.process(hits(30))  # the same offsets: a replay after a crash before commit
    clock.now += 10
    store = GroupStore(redis_client)
    for group in store.due(clock.now):
        assert pipeline.grouping is not None
        store.claim(group, 60.0, clock.now)
    # A flusher that claimed and died before publishing: the next flush sends the windows.
    first = flush(pipeline, redis_client, clock)
    assert sorted(count_in(n) for n in first if n.channel == "webhook") == [10, 10, 10]
    assert flush(pipeline, redis_client, clock) == []


def test_a_batch_replayed_after_its_window_was_sent_is_not_sent_again(
    redis_client: redis.Redis,
) -> None:
    """A crash after the flush but before the commit replays matches already sent: not held."""
    clock = Clock()
    pipeline = build(redis_client, clock, STOLEN)
    pipeline.process(hits(9))
    clock.now += 10
    assert len(flush(pipeline, redis_client, clock)) == 9  # 3 cameras x 3 channels
    assert pipeline.process(hits(9)).notifications == []
    clock.now += 60
    assert flush(pipeline, redis_client, clock) == []


def test_matches_during_the_interval_go_out_one_interval_later_and_a_quiet_group_closes(
    redis_client: redis.Redis,
) -> None:
    """A second window sends at flush + interval; an empty interval sends nothing and closes."""
    clock = Clock()
    pipeline = build(redis_client, clock, STOLEN)
    pipeline.process(hits(3, cameras=1))
    clock.now += 10
    first = flush(pipeline, redis_client, clock)
    pipeline.process(hits(4, cameras=1, first_offset=100))
    clock.now += 59
    assert flush(pipeline, redis_client, clock) == []
    clock.now += 1
    second = flush(pipeline, redis_client, clock)
    assert [count_in(n) for n in first if n.channel == "webhook"] == [3]
    assert [count_in(n) for n in second if n.channel == "webhook"] == [4]
    assert {n.id for n in first}.isdisjoint({n.id for n in second})
    clock.now += 60
    assert flush(pipeline, redis_client, clock) == []
    assert GroupStore(redis_client).open_count() == 0


def test_an_sms_group_fits_1600_characters_and_says_how_many_it_left_out() -> None:
    """Long item lines are dropped into "and N more" until the SMS text fits 1,600 characters."""
    template = compile_template("{count} hits at {group.camera_id}:\n{items}")
    lines = tuple(f"plate S{n:05d} seen at gate-north " + "x" * 150 for n in range(20))
    window = GroupWindow(300, lines, {"camera_id": "gate-north"})
    sms = render_group(template, window, {}, 1600)
    email = render_group(template, window, {}, None)
    assert len(sms) <= 1600
    listed = sms.count("plate S")
    assert listed < 20
    assert sms.endswith(f"and {300 - listed} more")
    assert email.count("plate S") == 20
    assert email.endswith("and 280 more")


def test_a_multi_line_message_template_makes_one_item_line_per_match(
    redis_client: redis.Redis,
) -> None:
    """Each match is one line of {items}, however many lines its message template has."""
    clock = Clock()
    rule = {
        **STOLEN,
        "notify": ["webhook"],
        "message_template": "{plate.normalized_text}\n  at {camera_id}\n",
    }
    pipeline = build(redis_client, clock, rule)
    pipeline.process(hits(2, cameras=1))
    clock.now += 10
    (sent,) = flush(pipeline, redis_client, clock)
    assert sent.message.splitlines()[1:] == ["S00000 · at cam-0", "S00001 · at cam-0"]


def test_storm_mode_groups_by_the_rule_past_the_threshold_and_switches_back(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Past 50 in a minute the rest is grouped by the rule alone; a quiet minute switches back."""
    rule = {**STOLEN, "notify": ["webhook"], "storm": {"threshold": 50, "within": "1m"}}
    del rule["group"], rule["group_template"]
    clock = Clock(now=1_700_000_040.0)  # a minute boundary: the storm windows are fixed
    pipeline = build(redis_client, clock, rule)
    before = {state: switches(state) for state in ("on", "off")}
    flushed = REGISTRY.get_sample_value("klaxon_groups_flushed_total", {"rule_id": "stolen"}) or 0
    with caplog.at_level("WARNING", logger="ingest.grouping_stage"):
        outcome = pipeline.process(hits(200))
        assert len(outcome.notifications) == 50
        assert "storm mode on for rule stolen" in caplog.text
        clock.now += 10
        (storm_message,) = flush(pipeline, redis_client, clock)
        assert count_in(storm_message) == 150
        clock.now += 120  # a quiet minute
        later = pipeline.process(hits(2, first_offset=1000))
        assert len(later.notifications) == 2
        assert "storm mode off for rule stolen" in caplog.text
    assert {state: switches(state) - before[state] for state in before} == {"on": 1, "off": 1}
    after = REGISTRY.get_sample_value("klaxon_groups_flushed_total", {"rule_id": "stolen"})
    assert after == flushed + 1


def switches(state: str) -> float:
    labels = {"rule_id": "stolen", "state": state}
    return REGISTRY.get_sample_value("klaxon_storm_switches_total", labels) or 0.0


@pytest.mark.parametrize(
    ("group", "field", "problem"),
    [
        ({"wait": "ten"}, "rules[0].group.wait", "expected a number of seconds"),
        ({"max_items": 0}, "rules[0].group.max_items", "must be a positive whole number"),
        ({"by": [5]}, "rules[0].group.by[0]", "expected a field path"),
        ({"every": "1m"}, "rules[0].group.every", "unknown key"),
    ],
)
def test_a_bad_group_is_reported_with_its_field(
    group: dict[str, Any], field: str, problem: str
) -> None:
    """Each invalid group setting is an error naming the file, rule and field."""
    sink = ProblemSink("rules.yaml")
    load_rules([{**STOLEN, "group": group}], sink, ALL_CHANNELS, TOPIC)
    (error,) = sink.errors
    assert error.field == field
    assert problem in error.message
    assert "rules.yaml" in str(error) and "stolen" in str(error)


def test_a_group_template_without_group_or_storm_is_an_error() -> None:
    """group_template alone would never be used: the loader says so."""
    sink = ProblemSink("rules.yaml")
    rule = {k: v for k, v in STOLEN.items() if k != "group"}
    load_rules([rule], sink, ALL_CHANNELS, TOPIC)
    (error,) = sink.errors
    assert error.field == "rules[0].group_template"


class PublishThenCrash(RecordingPublisher):
    """Stores the tasks, then fails as a bridge killed before it recorded the window done."""

    def publish(self, notifications: Sequence[Notification]) -> None:
        super().publish(notifications)
        raise redis.ConnectionError("killed after publishing")


def test_a_window_published_again_after_a_crash_keeps_its_task_ids(
    redis_client: redis.Redis,
) -> None:
    """The second publish of a window enqueues the very same ids, which the ledger sends once."""
    clock = Clock()
    pipeline = build(redis_client, clock, STOLEN)
    pipeline.process(hits(6, cameras=1))
    clock.now += 10
    crashed = PublishThenCrash()
    assert pipeline.grouping is not None
    with pytest.raises(redis.ConnectionError):
        GroupFlusher(GroupStore(redis_client), crashed, clock).flush(pipeline.grouping.rules)
    clock.now += 1
    again = flush(pipeline, redis_client, clock)
    assert [n.id for n in again] == [n.id for n in crashed.published]
    assert [count_in(n) for n in again] == [6, 6, 6]
    assert flush(pipeline, redis_client, clock) == []


def test_a_group_on_a_stateful_rule_is_an_error_that_says_why() -> None:
    """A threshold rule with group is refused: it notifies once per alert already."""
    sink = ProblemSink("rules.yaml")
    rule = {
        "id": "hot",
        "type": "threshold",
        "metric": "temperature",
        "operator": ">",
        "threshold": 27.5,
        "notify": ["webhook"],
        "message_template": "{device_id} hot",
        "group": {"by": ["device_id"]},
    }
    load_rules([rule], sink, ALL_CHANNELS, TOPIC)
    (error,) = sink.errors
    assert error.field == "rules[0].group"
    assert "stateful rule already notifies once per alert" in error.message


def test_unpublished_counts_open_and_claimed_windows(redis_client: redis.Redis) -> None:
    """What `klaxon dev` waits on: zero only once every window's message is sent."""
    store = GroupStore(redis_client)
    assert store.unpublished() == 0
    redis_client.zadd(DUE, {"rule\x00key": 1.0})
    redis_client.sadd(PENDING, "klaxon:group:window:1")
    assert store.unpublished() == 2
