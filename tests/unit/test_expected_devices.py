"""Expected devices: a listed device that never reports gets one no-data alert."""

from __future__ import annotations

from typing import Any

import redis
import yaml

from alerts.expected import ExpectedDevices
from alerts.lifecycle import Lifecycle, Observation, Transition
from contract.problems import ProblemSink
from rules.loader import load_rules
from rules.stateful import ThresholdRule
from tests.support.rules import ALL_CHANNELS, compile_rules

T0 = 1_700_000_000.0


def rule(**extra: Any) -> dict[str, Any]:
    return {
        "id": "temp-high",
        "type": "threshold",
        "metric": "temperature",
        "operator": ">",
        "threshold": 27,
        "notify": ["slack"],
        "no_data_seconds": "10m",
        "expected_devices": ["frag-tank", 7],
        **extra,
    }


def test_expected_devices_load_as_text_ids() -> None:
    """Integer ids are kept as text, like the device key."""
    (loaded,) = compile_rules(rule())
    assert isinstance(loaded, ThresholdRule)
    assert loaded.expected_devices == ("frag-tank", "7")


def test_expected_devices_need_no_data_seconds_and_ids() -> None:
    """Without no_data_seconds, or with an empty id, the rule and field are named."""
    sink = ProblemSink("test.yaml")
    items = [rule(no_data_seconds=None), {**rule(expected_devices=[""]), "id": "b"}]
    load_rules(yaml.safe_load(yaml.safe_dump(items)), sink, ALL_CHANNELS, "plates")
    found = [str(p) for p in sink.errors]
    assert any("rules[0].expected_devices" in p and "needs no_data_seconds" in p for p in found)
    assert any("rules[1].expected_devices[0]" in p and "expected an id" in p for p in found)


def test_a_never_seen_device_is_silent_from_the_first_sweep_and_alerted_once(
    redis_client: redis.Redis,
) -> None:
    """First sweep starts the clock; after no_data_seconds one alert; its reading resolves it."""
    expected = ExpectedDevices(redis_client)

    assert expected.raise_never_seen("temp-high", "frag-tank", T0, 600, "a1") is None
    assert expected.raise_never_seen("temp-high", "frag-tank", T0 + 599, 600, "a2") is None
    raised = expected.raise_never_seen("temp-high", "frag-tank", T0 + 600, 600, "a3")
    assert raised == Transition("no_data", "a3", T0)
    assert expected.raise_never_seen("temp-high", "frag-tank", T0 + 900, 600, "a4") is None

    first = Observation("temp-high", "frag-tank", False, True, T0 + 950, "readings", 0, 1)
    (found,) = Lifecycle(redis_client).observe([(first, 0, "new")], received_at=T0 + 950)
    assert found == [Transition("no_data_resolve", "a3", T0)]


def test_a_device_that_has_reported_is_left_to_the_usual_sweep(
    redis_client: redis.Redis,
) -> None:
    """Once a device has a reading, the never-seen check raises nothing for it."""
    seen = Observation("temp-high", "frag-tank", False, True, T0, "readings", 0, 1)
    Lifecycle(redis_client).observe([(seen, 0, "new")], received_at=T0)
    expected = ExpectedDevices(redis_client)
    assert expected.raise_never_seen("temp-high", "frag-tank", T0 + 1, 600, "a") is None
    assert expected.raise_never_seen("temp-high", "frag-tank", T0 + 10_000, 600, "b") is None
