"""Trend rules in a real Redis: rate of change, moving average, anomaly, forecast, late readings.

Rules come from the real loader; readings go through the stateful stage as the bridge's
pipeline sends them, with event times in the readings and an injected receive clock.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
import yaml

from alerts.lifecycle import Lifecycle
from alerts.stateful_stage import Change, StatefulStage
from alerts.trends import TrendStore
from contract.notification import Source
from contract.problems import ProblemSink
from ingest.pipeline import Decoded
from rules.engine import RuleEngine
from rules.loader import load_rules
from rules.trends import least_squares_slope, rate_of_change, z_score
from tests.support.fakes import Clock, FakeMessage
from tests.support.rules import ALL_CHANNELS, compile_rules

TOPIC = "devices.readings"
T0 = 1_700_000_000.0
MINUTE = 60.0


def trend(kind: str, **extra: Any) -> dict[str, Any]:
    return {"id": kind, "type": kind, "metric": "temperature", "notify": ["slack"], **extra}


def heater_stuck_on() -> dict[str, Any]:
    """A temperature that must stay at or below 27 °C: the threshold beside the trend."""
    return {
        "id": "too-hot",
        "type": "threshold",
        "metric": "temperature",
        "operator": ">",
        "threshold": 27.0,
        "notify": ["slack"],
    }


class Feed:
    """Readings of tank-1 on one partition, offsets counting up, through the stateful stage."""

    def __init__(self, client: redis.Redis, *rules: dict[str, Any]) -> None:
        engine = RuleEngine(compile_rules(*rules))
        self.stage = StatefulStage(engine.stateful, Lifecycle(client), Clock(now=T0))
        self.offset = 0

    def send(self, value: float, at: float) -> list[Change]:
        """One reading ``at`` seconds after T0; the lifecycle changes it caused."""
        self.offset += 1
        event = {
            "device_id": "tank-1",
            "metric": "temperature",
            "value": value,
            "timestamp": int((T0 + at) * 1000),
        }
        message = FakeMessage(TOPIC, 0, self.offset, None)
        item = Decoded(message, Source(TOPIC, 0, self.offset), event)
        now = self.stage.clock()
        changes = self.stage.apply(self.stage.observe(item, now), now)
        return [c for c in changes if isinstance(c, Change)]


def fired(changes: list[Change]) -> list[tuple[str, str]]:
    return [(c.rule.id, c.transition.kind) for c in changes]


def problems(*items: dict[str, Any]) -> list[str]:
    sink = ProblemSink("test.yaml")
    load_rules(yaml.safe_load(yaml.safe_dump(list(items))), sink, ALL_CHANNELS, "plates")
    return [str(p).removeprefix("test.yaml: ") for p in sink.problems]


# -- the math -------------------------------------------------------------------------------


def test_rate_of_change_is_the_change_between_the_ends_scaled_to_per() -> None:
    """0.3 over 5 minutes is 0.6 per 10 minutes; too short a span gives no rate."""
    assert rate_of_change([(0, 25.0), (300, 25.3)], per=600, min_span=300) == pytest.approx(0.6)
    assert rate_of_change([(0, 25.0), (200, 25.3)], per=600, min_span=300) is None


def test_least_squares_slope_and_z_score() -> None:
    """A line's slope comes back exactly; z is the distance in standard deviations."""
    assert least_squares_slope([(t, 2 + 0.5 * t) for t in range(5)], 3, 1) == pytest.approx(0.5)
    assert z_score(12.0, 10.0, 0.25) == pytest.approx(4.0)


# -- rules ------------------------------------------------------------------------------------


def test_a_heater_stuck_on_fires_rate_of_change_long_before_the_threshold(
    redis_client: redis.Redis,
) -> None:
    """0.06 °C a minute from 25 °C: rate_of_change (0.5 per 10m) fires at 25.3, > 27 never."""
    feed = Feed(
        redis_client,
        heater_stuck_on(),
        trend("rate_of_change", per="10m", window="10m", threshold=0.5, direction="rising"),
    )
    seen: list[tuple[float, list[tuple[str, str]]]] = []
    for minute in range(11):
        value = round(25.0 + 0.06 * minute, 2)
        seen.append((value, fired(feed.send(value, minute * MINUTE))))
    triggered = [(value, found) for value, found in seen if found]
    assert triggered == [(25.3, [("rate_of_change", "trigger")])]
    assert max(value for value, _ in seen) < 27.0


def test_a_falling_rate_does_not_fire_a_rising_rule(redis_client: redis.Redis) -> None:
    """direction: rising ignores the same change downwards."""
    feed = Feed(
        redis_client,
        trend("rate_of_change", per="10m", threshold=0.5, direction="rising"),
    )
    assert [fired(feed.send(25.0 - 0.06 * m, m * MINUTE)) for m in range(11)] == [[]] * 11


def test_moving_average_of_the_last_readings_against_a_threshold(
    redis_client: redis.Redis,
) -> None:
    """One hot reading does not move the mean of three past 27; three do, and it resolves."""
    feed = Feed(
        redis_client,
        trend("moving_average", readings=3, operator=">", threshold=27.0),
    )
    assert fired(feed.send(26.0, 0)) == []
    assert fired(feed.send(26.0, 60)) == []
    assert fired(feed.send(28.5, 120)) == []  # mean 26.83
    assert fired(feed.send(28.5, 180)) == [("moving_average", "trigger")]  # mean 27.67
    assert fired(feed.send(25.0, 240)) == []  # mean 27.33
    assert fired(feed.send(25.0, 300)) == [("moving_average", "resolve")]


def test_moving_average_against_a_band(redis_client: redis.Redis) -> None:
    """The mean of the last 2 readings outside 25..27 fires, and says the band."""
    feed = Feed(redis_client, trend("moving_average", readings=2, low=25, high=27))
    assert fired(feed.send(25.5, 0)) == []
    assert fired(feed.send(24.8, 60)) == []  # mean 25.15: inside
    found = feed.send(24.2, 120)  # mean 24.5
    assert fired(found) == [("moving_average", "trigger")]
    (note,) = feed.stage.notifications(found, "now")
    assert note.message.endswith("average 24.5 outside 25.0..27.0")


def noise(i: int) -> float:
    """A small deterministic wobble, ±0.05."""
    return 0.05 if i % 2 else -0.05


def test_a_five_sigma_spike_fires_anomaly_and_slow_drift_does_not(
    redis_client: redis.Redis,
) -> None:
    """A steady drift of 0.005 °C a reading stays quiet for 200 readings; a jump of 1 °C fires."""
    feed = Feed(redis_client, trend("anomaly", k=5, min_samples=10, alpha=0.1))
    value = 25.0
    for i in range(200):
        value = 25.0 + 0.005 * i
        assert fired(feed.send(value + noise(i), i * MINUTE)) == [], i
    found = feed.send(value + 1.0, 200 * MINUTE)
    assert fired(found) == [("anomaly", "trigger")]
    assert found[0].reading.value is not None and found[0].reading.value > 5


def test_anomaly_waits_for_min_samples(redis_client: redis.Redis) -> None:
    """Before min_samples readings even a wild value is no verdict."""
    feed = Feed(redis_client, trend("anomaly", k=3, min_samples=10))
    for i in range(5):
        feed.send(25.0 + noise(i), i * MINUTE)
    assert fired(feed.send(40.0, 5 * MINUTE)) == []


def test_forecast_fires_when_the_current_rate_crosses_the_threshold_within_the_horizon(
    redis_client: redis.Redis,
) -> None:
    """0.1 °C a minute from 26: 28 °C is 20 minutes away, within a 30 minute horizon."""
    feed = Feed(
        redis_client,
        heater_stuck_on(),
        trend("forecast", operator=">", threshold=28.0, horizon="30m", window="10m"),
    )
    changes = [feed.send(26.0 + 0.1 * m, m * MINUTE) for m in range(6)]
    triggers = [m for m, found in enumerate(changes) if found]
    assert triggers == [5]  # half the window of history first
    (change,) = changes[5]
    notification = feed.stage.notifications([change], "now")[0]
    assert "would reach 28.0 within 30m at the current rate" in notification.message


# -- out of order and replays -------------------------------------------------------------------


def test_a_late_reading_inside_the_window_is_placed_in_order(redis_client: redis.Redis) -> None:
    """The window is kept in event-time order: a late middle reading leaves the ends alone."""
    feed = Feed(redis_client, trend("moving_average", window="10m", operator=">", threshold=99))
    store = TrendStore(redis_client)
    feed.send(20.0, 0)
    feed.send(22.0, 120)
    feed.send(21.0, 60)  # late, still inside the window
    samples: list[bytes] = redis_client.zrange(  # type: ignore[assignment]
        "klaxon:trend:moving_average:tank-1:samples", 0, -1
    )
    assert [s.decode().rpartition("|")[2] for s in samples] == ["20.0", "21.0", "22.0"]
    assert store.late_dropped("moving_average", "tank-1") == 0


def test_a_reading_older_than_the_window_is_dropped_and_counted(
    redis_client: redis.Redis,
) -> None:
    """Older than newest - window: no verdict, not in the window, counted."""
    feed = Feed(redis_client, trend("rate_of_change", per="10m", window="10m", threshold=0.5))
    feed.send(25.0, 1200)
    feed.send(25.2, 1500)
    assert fired(feed.send(40.0, 0)) == []  # 20 minutes late: would be a huge rate
    assert TrendStore(redis_client).late_dropped("rate_of_change", "tank-1") == 1
    assert redis_client.zcard("klaxon:trend:rate_of_change:tank-1:samples") == 2


def test_anomaly_drops_and_counts_any_reading_older_than_the_last(
    redis_client: redis.Redis,
) -> None:
    """A running mean cannot be re-ordered: a late reading is dropped, the mean unchanged."""
    feed = Feed(redis_client, trend("anomaly", k=3, min_samples=3))
    for i in range(5):
        feed.send(25.0 + noise(i), (i + 1) * MINUTE)
    before = redis_client.hget("klaxon:trend:anomaly:tank-1", "mean")
    assert fired(feed.send(90.0, 0)) == []
    assert redis_client.hget("klaxon:trend:anomaly:tank-1", "mean") == before
    assert TrendStore(redis_client).late_dropped("anomaly", "tank-1") == 1


def test_a_replayed_spike_gives_back_its_trigger_and_does_not_move_the_mean(
    redis_client: redis.Redis,
) -> None:
    """After a crash the spike is read again: same trigger, running state unchanged."""
    feed = Feed(redis_client, trend("anomaly", k=3, min_samples=3))
    for i in range(5):
        feed.send(25.0 + noise(i), i * MINUTE)
    first = feed.send(30.0, 5 * MINUTE)
    state = redis_client.hgetall("klaxon:trend:anomaly:tank-1")
    feed.offset -= 1
    again = feed.send(30.0, 5 * MINUTE)
    assert [c.transition for c in again] == [c.transition for c in first] != []
    assert redis_client.hgetall("klaxon:trend:anomaly:tank-1") == state


# -- loading ------------------------------------------------------------------------------------


def test_bad_trend_rules_are_reported_with_rule_and_field() -> None:
    """A missing per, an alpha out of range, a key of another type, no count or window."""
    found = problems(
        trend("rate_of_change", threshold=0.5),
        {**trend("anomaly", alpha=2), "id": "b"},
        {**trend("anomaly", per="10m"), "id": "c"},
        {**trend("moving_average", operator=">", threshold=1), "id": "d"},
    )
    assert any("rules[0].per" in p and "is required" in p for p in found), found
    assert any("rules[1].alpha" in p and "<= 1" in p for p in found), found
    assert any("rules[2].per" in p and "does not apply to type anomaly" in p for p in found), found
    assert any("rules[3].readings" in p for p in found), found
