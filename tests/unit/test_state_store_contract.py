"""The in-process state store behaves as Redis: one table of cases, run on both, same notifications.

``klaxon rules test`` and ``klaxon replay`` run the bridge's pipeline on fakeredis
(klaxon/rulestest/store.py). Each case here runs that pipeline once on the session's real
Redis and once in-process, and both runs must send the same notifications (with the same
ids) as the case expects. On real Redis a cooldown expires on Redis's own clock, so moving
time past one waits (with a deadline) until Redis has dropped the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from contract.settings import Settings
from klaxon.rulestest.messages import SimulatedMessage
from klaxon.rulestest.simulation import Simulation
from klaxon.rulestest.store import SimulatedClock, in_process_redis
from rules.config import load_config
from tests.support import yamlfile
from tests.support.wait import wait_until

T0 = 1_700_000_000.0
PLATES = "plates.contract"
READINGS = "readings.contract"

RULES: dict[str, Any] = {
    "notifications": {"webhook": {"enabled": True, "url": "https://hooks.example.com/x"}},
    "rules": [
        {
            "id": "plate",
            "source": PLATES,
            "conditions": [{"field": "plate", "operator": "in_list", "value": ["ABC123"]}],
            "notify": ["webhook"],
            "rate_limit": {"cooldown_seconds": 1, "dedup_key": "plate"},
            "message_template": "plate {plate} at {camera}",
        },
        {
            "id": "hot",
            "type": "threshold",
            "source": READINGS,
            "device_id": "*",
            "metric": "temperature",
            "operator": ">",
            "threshold": 10,
            "resolve_threshold": 8,
            "repeat_interval": "60s",
            "no_data_seconds": 60,
            "notify": ["webhook"],
            "notify_on_resolve": True,
            "message_template": "{device_id} hot at {current_value}",
            "resolve_template": "{device_id} back to {current_value}",
        },
        {
            "id": "slow",
            "type": "threshold",
            "source": READINGS,
            "device_id": "*",
            "metric": "pressure",
            "operator": ">",
            "threshold": 10,
            "for_seconds": 60,
            "notify": ["webhook"],
            "message_template": "{device_id} pressure {current_value}",
        },
    ],
}


def plate(text: str, camera: str) -> tuple[str, dict[str, object]]:
    return PLATES, {"plate": text, "camera": camera}


def reading(metric: str, value: float, device: str = "tank") -> tuple[str, dict[str, object]]:
    return READINGS, {"device_id": device, "metric": metric, "value": value}


@dataclass(frozen=True)
class Step:
    at: float
    event: tuple[str, dict[str, object]] | None = None  # None: only move the clock
    replay_of: int | None = None  # re-deliver the message of this earlier step


@dataclass(frozen=True)
class ContractCase:
    name: str
    steps: tuple[Step, ...]
    expected: tuple[tuple[float, str, str, str], ...]  # (at, rule, transition, message)


CASES = [
    ContractCase(
        "cooldown held, then freed",
        (
            Step(0, plate("ABC123", "cam-1")),
            Step(0.5, plate("ABC123", "cam-2")),
            Step(1.5, plate("ABC123", "cam-3")),
        ),
        (
            (0, "plate", "match", "plate ABC123 at cam-1"),
            (1.5, "plate", "match", "plate ABC123 at cam-3"),
        ),
    ),
    ContractCase(
        "a replayed event passes its own cooldown with the same ids",
        (Step(0, plate("ABC123", "cam-1")), Step(0.2, replay_of=0)),
        (
            (0, "plate", "match", "plate ABC123 at cam-1"),
            (0.2, "plate", "match", "plate ABC123 at cam-1"),
        ),
    ),
    ContractCase(
        "trigger only after for",
        (
            Step(0, reading("pressure", 11)),
            Step(30, reading("pressure", 12)),
            Step(61, reading("pressure", 13)),
        ),
        ((61, "slow", "trigger", "tank pressure 13"),),
    ),
    ContractCase(
        "hysteresis, then resolve",
        (
            Step(0, reading("temperature", 11)),
            Step(10, reading("temperature", 9)),
            Step(20, reading("temperature", 7)),
        ),
        ((0, "hot", "trigger", "tank hot at 11"), (20, "hot", "resolve", "tank back to 7")),
    ),
    ContractCase(
        "a reminder after the repeat interval",
        (
            Step(0, reading("temperature", 11)),
            Step(30, reading("temperature", 12)),
            Step(60, reading("temperature", 12)),
        ),
        # The sweep sends it (alerts.followups), with the values the alert opened with.
        ((0, "hot", "trigger", "tank hot at 11"), (60, "hot", "reminder", "tank hot at 11")),
    ),
    ContractCase(
        "no data from a silent device, resolved by its next reading",
        (
            Step(0, reading("temperature", 5)),
            Step(100),
            Step(110, reading("temperature", 5)),
        ),
        ((90, "hot", "no_data", "tank"), (110, "hot", "no_data_resolve", "tank back to 5")),
    ),
]

Sent = tuple[float, str, str, str, str]  # (at, rule, transition, message, id or "")


def run_case(case: ContractCase, client: redis.Redis, tmp_path: Path, real: bool) -> list[Sent]:
    path = tmp_path / "contract.yaml"
    path.write_text(yamlfile.dump(RULES))
    config = load_config(path)
    clock = SimulatedClock(T0)
    simulation = Simulation(config, Settings.from_env(), client, clock)
    delivered: list[SimulatedMessage | None] = []  # by step
    offsets: dict[str, int] = {}
    for step in case.steps:
        if real:
            expire_keys_due(client, T0 + step.at - clock())
        simulation.advance(T0 + step.at)
        message: SimulatedMessage | None = None
        if step.replay_of is not None:
            message = delivered[step.replay_of]
        elif step.event is not None:
            topic, event = step.event
            offset = offsets[topic] = offsets.get(topic, -1) + 1
            message = SimulatedMessage(topic, 0, offset, orjson.dumps(event))
        delivered.append(message)
        if message is not None:
            simulation.process([message])
    return [
        (
            round(s.at - T0, 3),
            s.notification.rule_id,
            s.transition,
            s.notification.message,
            # A no-data alert's id is random (alerts/no_data.py): one per sweep that raises.
            "" if s.transition == "no_data" else s.notification.id,
        )
        for s in simulation.sent
    ]


def expire_keys_due(client: redis.Redis, seconds: float) -> None:
    """Real Redis keeps its own time: wait until every key expiring within ``seconds`` is gone."""
    if seconds <= 0:
        return
    due = [
        key
        for key in client.scan_iter("klaxon:cooldown:*")
        if 0 < int(client.pttl(key)) <= seconds * 1000
    ]
    wait_until(lambda: not any(client.exists(key) for key in due), timeout=10, message="expiry")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_both_stores_send_the_same_notifications(
    case: ContractCase, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """The same case on real Redis and in-process sends identical, expected notifications."""
    on_redis = run_case(case, redis_client, tmp_path, real=True)
    in_process = run_case(case, in_process_redis(), tmp_path, real=False)
    assert in_process == on_redis
    assert [(at, rule, kind) for at, rule, kind, _, _ in on_redis] == [
        (at, rule, kind) for at, rule, kind, _ in case.expected
    ]
    for (_, _, _, message, _), (_, _, _, wanted) in zip(on_redis, case.expected, strict=True):
        assert wanted in message
