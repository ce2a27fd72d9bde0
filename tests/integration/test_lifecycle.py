"""The triggered -> resolved lifecycle in Redis: transitions, pending, replays."""

from __future__ import annotations

import threading

import redis

from alerts.lifecycle import Lifecycle, Observation, Transition

T0 = 1_700_000_000.0


def observe(
    lifecycle: Lifecycle,
    offset: int,
    holds: bool,
    at: float = T0,
    *,
    clears: bool | None = None,
    for_seconds: float = 0,
    value: float = 1.0,
    partition: int = 0,
) -> Transition | None:
    obs = Observation(
        rule_id="temp_high",
        key="tank-1",
        holds=holds,
        clears=(not holds) if clears is None else clears,
        at=at,
        topic="devices.readings",
        partition=partition,
        offset=offset,
        value=value,
    )
    (found,) = lifecycle.observe([(obs, for_seconds, f"alert-{offset}")], received_at=at)
    lifecycle_only = [t for t in found if not t.kind.startswith("no_data")]
    return lifecycle_only[0] if lifecycle_only else None


def kinds(results: list[Transition | None]) -> list[str | None]:
    return [r.kind if r else None for r in results]


def test_trigger_then_silence_then_resolve_with_the_same_alert_id(
    redis_client: redis.Redis,
) -> None:
    """Holding triggers once, holding again is silent, clearing resolves that alert."""
    lifecycle = Lifecycle(redis_client)
    first = observe(lifecycle, 0, holds=False)
    trigger = observe(lifecycle, 1, holds=True, at=T0 + 1, value=82.5)
    again = observe(lifecycle, 2, holds=True, at=T0 + 2, value=83.0)
    resolve = observe(lifecycle, 3, holds=False, at=T0 + 3, value=81.0)
    assert kinds([first, trigger, again, resolve]) == [None, "trigger", None, "resolve"]
    assert trigger is not None and resolve is not None
    assert resolve.alert_id == trigger.alert_id == "alert-1"
    assert resolve.triggered_at == T0 + 1
    assert resolve.trigger_value == 82.5
    assert lifecycle.state("temp_high", "tank-1")["state"] == "ok"


def test_for_seconds_keeps_the_alert_pending_until_it_held_long_enough(
    redis_client: redis.Redis,
) -> None:
    """With for_seconds, holding is pending first; it triggers only after holding that long."""
    lifecycle = Lifecycle(redis_client)
    results = [
        observe(lifecycle, 0, True, T0, for_seconds=10),
        observe(lifecycle, 1, True, T0 + 5, for_seconds=10),
        observe(lifecycle, 2, True, T0 + 10, for_seconds=10),
    ]
    assert kinds(results) == [None, None, "trigger"]


def test_pending_that_stops_holding_goes_back_to_ok(redis_client: redis.Redis) -> None:
    """A pending alert that stops holding never fires, and the pending clock restarts."""
    lifecycle = Lifecycle(redis_client)
    results = [
        observe(lifecycle, 0, True, T0, for_seconds=10),
        observe(lifecycle, 1, False, T0 + 5, for_seconds=10),
        observe(lifecycle, 2, True, T0 + 11, for_seconds=10),
        observe(lifecycle, 3, True, T0 + 15, for_seconds=10),
        observe(lifecycle, 4, True, T0 + 21, for_seconds=10),
    ]
    assert kinds(results) == [None, None, None, None, "trigger"]


def test_hysteresis_resolves_only_when_the_resolve_condition_holds(
    redis_client: redis.Redis,
) -> None:
    """Not holding is not enough under hysteresis: the value must cross resolve_threshold."""
    lifecycle = Lifecycle(redis_client)
    results = [
        observe(lifecycle, 0, True, T0),
        observe(lifecycle, 1, False, T0 + 1, clears=False),  # between the two thresholds
        observe(lifecycle, 2, False, T0 + 2, clears=True),
    ]
    assert kinds(results) == ["trigger", None, "resolve"]


def test_a_replayed_batch_gets_back_the_same_transitions_and_changes_nothing(
    redis_client: redis.Redis,
) -> None:
    """After a crash before commit, replaying offsets 0-3 re-emits trigger and resolve as before."""
    lifecycle = Lifecycle(redis_client)
    first = [observe(lifecycle, i, h, T0 + i) for i, h in enumerate([False, True, True, False])]
    state_before = lifecycle.state("temp_high", "tank-1")
    replay = [observe(lifecycle, i, h, T0 + i) for i, h in enumerate([False, True, True, False])]
    assert kinds(first) == kinds(replay) == [None, "trigger", None, "resolve"]
    assert [r.alert_id if r else None for r in replay] == [r.alert_id if r else None for r in first]
    assert lifecycle.state("temp_high", "tank-1") == state_before


def test_two_bridges_racing_on_one_key_trigger_once(redis_client: redis.Redis) -> None:
    """Observations of one key from many clients at once trigger exactly one alert."""
    results: list[Transition | None] = []
    lock = threading.Lock()

    def bridge(partition: int) -> None:
        lifecycle = Lifecycle(redis.Redis(connection_pool=redis_client.connection_pool))
        for offset in range(20):
            result = observe(lifecycle, offset, True, T0 + offset, partition=partition)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=bridge, args=(p,)) for p in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 80
    assert kinds(results).count("trigger") == 1


def test_silence_raises_one_no_data_alert_and_the_next_reading_resolves_it(
    redis_client: redis.Redis,
) -> None:
    """A key silent past the cutoff gets one no-data alert; its next reading resolves it."""
    lifecycle = Lifecycle(redis_client)
    observe(lifecycle, 0, False, T0)
    assert lifecycle.stale("temp_high", T0 - 1) == []
    assert lifecycle.stale("temp_high", T0 + 60) == ["tank-1"]
    raised = lifecycle.raise_no_data("temp_high", "tank-1", T0 + 60, "nd-1")
    again = lifecycle.raise_no_data("temp_high", "tank-1", T0 + 90, "nd-2")
    assert raised is not None and raised.kind == "no_data" and raised.triggered_at == T0
    assert again is None
    obs = Observation("temp_high", "tank-1", False, True, T0 + 100, "devices.readings", 0, 1, 1.0)
    ((resolved,),) = lifecycle.observe([(obs, 0, "unused")], received_at=T0 + 100)
    assert (resolved.kind, resolved.alert_id) == ("no_data_resolve", "nd-1")
