"""Alert lifecycles in a real Redis: pending, trigger, resolve, no-data, replays.

Rules come from the real loader; readings go through the stateful stage as the bridge's
pipeline sends them, with event times in the readings and an injected receive clock.
"""

from __future__ import annotations

from typing import Any

import redis

from alerts.lifecycle import Lifecycle, Transition
from alerts.stateful_stage import AnyChange, Change, StatefulStage, alert_id
from contract.notification import Source
from ingest.pipeline import Decoded
from rules.engine import RuleEngine
from tests.support.fakes import Clock, FakeMessage
from tests.support.rules import compile_rules

TOPIC = "devices.readings"
T0 = 1_700_000_000.0  # event time of the first reading, seconds


def threshold(**extra: Any) -> dict[str, Any]:
    """temperature > 82 on every device, notifying the webhook."""
    return {
        "id": "temp-high",
        "type": "threshold",
        "metric": "temperature",
        "operator": ">",
        "threshold": 82.0,
        "notify": ["webhook"],
        **extra,
    }


class Feed:
    """Readings of one partition, offsets counting up, through a stage with these rules."""

    def __init__(self, client: redis.Redis, *rules: dict[str, Any]) -> None:
        self.clock = Clock(now=T0 + 5)
        self.lifecycle = Lifecycle(client)
        engine = RuleEngine(compile_rules(*rules))
        self.stage = StatefulStage(engine.stateful, self.lifecycle, self.clock)
        self.offset = 0

    def batch(self, *readings: tuple[float, float]) -> list[Decoded]:
        """(value, seconds after T0) of tank-1 as the next offsets."""
        decoded = []
        for value, at in readings:
            self.offset += 1
            event = {
                "device_id": "tank-1",
                "metric": "temperature",
                "value": value,
                "timestamp": int((T0 + at) * 1000),
            }
            message = FakeMessage(TOPIC, 0, self.offset, None)
            decoded.append(Decoded(message, Source(TOPIC, 0, self.offset), event))
        return decoded

    def changes(self, batch: list[Decoded]) -> list[AnyChange]:
        """The stage's two steps as the pipeline runs them: observe each event, then apply."""
        now = self.clock()
        pending = [p for item in batch for p in self.stage.observe(item, now)]
        return self.stage.apply(pending, now)

    def send(self, *readings: tuple[float, float]) -> list[Transition]:
        return transitions(self.changes(self.batch(*readings)))


def transitions(changes: list[AnyChange]) -> list[Transition]:
    return [change.transition for change in changes if isinstance(change, Change)]


def alert_of(offset: int) -> str:
    """The id of the alert the reading at ``offset`` triggers."""
    return alert_id(f"{TOPIC}/0/{offset}", "temp-high", "tank-1")


def test_an_alert_triggers_once_the_condition_held_for_for_seconds(
    redis_client: redis.Redis,
) -> None:
    """Holding for less than for_seconds stays pending; at for_seconds it triggers, once."""
    feed = Feed(redis_client, threshold(for_seconds=60))

    assert feed.send((85.0, 0), (86.0, 30)) == []
    assert feed.send((87.0, 60)) == [Transition("trigger", alert_of(3), T0 + 60)]
    assert feed.send((88.0, 90)) == []  # firing, no reminders configured


def test_a_reading_back_under_the_threshold_cancels_a_pending_alert(
    redis_client: redis.Redis,
) -> None:
    """Pending, then clear: the for_seconds clock restarts from the next holding reading."""
    feed = Feed(redis_client, threshold(for_seconds=60))

    assert feed.send((85.0, 0), (80.0, 30), (85.0, 50), (85.0, 100)) == []
    assert feed.send((85.0, 110)) == [Transition("trigger", alert_of(5), T0 + 110)]


def test_a_firing_alert_resolves_with_its_trigger_value(redis_client: redis.Redis) -> None:
    """The first clear reading resolves the alert it triggered, with id, time and value."""
    feed = Feed(redis_client, threshold())

    assert feed.send((85.5, 0)) == [Transition("trigger", alert_of(1), T0)]
    assert feed.send((70.0, 40)) == [Transition("resolve", alert_of(1), T0, 85.5)]
    assert feed.send((71.0, 50)) == []


def test_hysteresis_resolves_only_past_the_resolve_threshold(redis_client: redis.Redis) -> None:
    """Above resolve_threshold the alert keeps firing; once no longer > it, it resolves."""
    feed = Feed(redis_client, threshold(resolve_threshold=78.0))

    assert feed.send((85.0, 0)) == [Transition("trigger", alert_of(1), T0)]
    assert feed.send((80.0, 10), (78.1, 20)) == []
    assert feed.send((78.0, 30)) == [Transition("resolve", alert_of(1), T0, 85.0)]


def test_readings_of_a_firing_alert_cause_no_reminders_the_sweep_sends_them(
    redis_client: redis.Redis,
) -> None:
    """Reminders are the sweep's (tests/unit/test_followups.py): readings bring none."""
    feed = Feed(redis_client, threshold(repeat_interval="5m"))
    assert feed.send((85.0, 0)) == [Transition("trigger", alert_of(1), T0)]
    assert [feed.send((85.0, at)) for at in (300, 600)] == [[], []]


def test_a_silent_key_raises_one_no_data_alert_and_its_next_reading_resolves_it(
    redis_client: redis.Redis,
) -> None:
    """The sweep's calls: stale keys, one no-data alert per silence, resolved by a reading."""
    feed = Feed(redis_client, threshold(no_data_seconds=600))
    feed.send((70.0, 0))  # received at the clock's now
    heard_at = feed.clock.now
    lifecycle = feed.lifecycle

    assert lifecycle.stale("temp-high", cutoff=heard_at) == []
    assert lifecycle.stale("temp-high", cutoff=heard_at + 1) == ["tank-1"]
    raised = lifecycle.raise_no_data("temp-high", "tank-1", heard_at + 1, "silence-1")
    assert raised == Transition("no_data", "silence-1", heard_at)
    assert lifecycle.raise_no_data("temp-high", "tank-1", heard_at + 2, "silence-2") is None

    feed.clock.now += 900
    assert feed.send((71.0, 900)) == [Transition("no_data_resolve", "silence-1", heard_at)]
    assert lifecycle.stale("temp-high", cutoff=feed.clock.now) == []


def test_a_replayed_batch_gets_the_same_transitions_and_changes_no_state(
    redis_client: redis.Redis,
) -> None:
    """Replaying a trigger and a resolve returns them again under the same ids, nothing new."""
    feed = Feed(redis_client, threshold(for_seconds=10))
    batch = feed.batch((85.0, 0), (85.0, 10), (85.0, 15), (70.0, 20))
    first = transitions(feed.changes(batch))
    state = feed.lifecycle.state("temp-high", "tank-1")

    replay = transitions(feed.changes(batch))

    assert first == [
        Transition("trigger", alert_of(2), T0 + 10),
        Transition("resolve", alert_of(2), T0 + 10, 85.0),
    ]
    assert replay == first
    assert feed.lifecycle.state("temp-high", "tank-1") == state


def test_the_same_trigger_twice_is_one_alert(redis_client: redis.Redis) -> None:
    """A redelivered triggering reading repeats its trigger; the alert is not raised twice."""
    feed = Feed(redis_client, threshold())
    batch = feed.batch((90.0, 0))

    assert transitions(feed.changes(batch)) == [Transition("trigger", alert_of(1), T0)]
    assert transitions(feed.changes(batch)) == [Transition("trigger", alert_of(1), T0)]

    assert feed.lifecycle.state("temp-high", "tank-1")["alert_id"] == alert_of(1)
    assert feed.send((91.0, 5)) == []  # still the one firing alert
