"""``klaxon alerts ack / unack / reject / show`` against a real Redis: output and clear errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from click.testing import CliRunner, Result

from alerts.acks import AckBook, AlertKind, Opening
from alerts.store import AlertEvent, AlertStore
from klaxon.cli import main

ALERT = "4f1d2c3b-0000-4000-8000-00000000a1e7"
HIT = "9a8b7c6d-0000-4000-8000-0000000000b1"


@pytest.fixture
def cli(redis_url: str) -> Iterator[Callable[..., Result]]:
    """Run ``klaxon ARGS`` in-process against the test Redis."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args), env={"REDIS_URL": redis_url})

    yield run


def open_alert(client: redis.Redis, alert_id: str, kind: AlertKind) -> None:
    """Open an alert as the bridge does: its record in the store and its ack record."""
    now = time.time()
    AlertStore(client).save(
        [
            AlertEvent(
                id=alert_id, rule_id="tank", device_id="tank-1", triggered_at=now,
                current_value=90.0, threshold_value=82.0, operator=">", metric="temperature",
                kind="hit" if kind == AlertKind.HIT else "threshold",
            )
        ]
    )  # fmt: skip
    opening = Opening(alert_id, "tank", kind, "tank-1", now, (), (), {})
    AckBook(client).open([opening])


def test_ack_shows_in_active_and_show_lists_the_history(
    cli: Callable[..., Result], redis_client: redis.Redis
) -> None:
    """ack by prefix; `alerts active` shows who acknowledged; `alerts show` the history."""
    open_alert(redis_client, ALERT, AlertKind.ALERT)

    done = cli("alerts", "ack", ALERT[:8], "--by", "ana", "--comment", "water change")
    assert (done.exit_code, done.output) == (0, f"alert {ALERT}: acknowledged by ana\n")

    table = cli("alerts", "active")
    assert table.exit_code == 0
    (row,) = [line for line in table.output.splitlines() if line.startswith(ALERT[:8])]
    assert row.rstrip().endswith("acknowledged by ana")

    shown = cli("alerts", "show", ALERT)
    lines = [json.loads(line) for line in shown.output.splitlines()]
    assert lines[0]["ack"]["comment"] == "water change"
    assert [entry["action"] for entry in lines[1:]] == ["opened", "ack"]


def test_acknowledging_an_unknown_id_is_a_clear_error(cli: Callable[..., Result]) -> None:
    """An id that names no alert: exit 1 and a message saying so, no traceback."""
    result = cli("alerts", "ack", "deadbeef")
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: no acknowledgeable alert with id 'deadbeef': `klaxon alerts active` lists"
    )
    assert "Traceback" not in result.output


def test_acknowledging_a_resolved_alert_is_a_clear_error(
    cli: Callable[..., Result], redis_client: redis.Redis
) -> None:
    """A resolved alert: exit 1, when it resolved, and that there is nothing to ack."""
    open_alert(redis_client, ALERT, AlertKind.ALERT)
    AckBook(redis_client).resolve([ALERT], 1_700_000_000.0)
    result = cli("alerts", "ack", ALERT)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: alert {ALERT} is already resolved (at 2023-11-14T22:13:20+00:00): "
        "there is nothing to ack\n"
    )


def test_reject_closes_a_hit_and_refuses_a_stateful_alert(
    cli: Callable[..., Result], redis_client: redis.Redis
) -> None:
    """A rejected hit leaves the active list; rejecting a stateful alert says why not."""
    open_alert(redis_client, HIT, AlertKind.HIT)
    open_alert(redis_client, ALERT, AlertKind.ALERT)

    done = cli("alerts", "reject", HIT, "--reason", "misread", "--by", "bo")
    assert (done.exit_code, done.output) == (0, f"alert {HIT}: rejected by bo\n")
    active = [
        json.loads(line)["id"] for line in cli("alerts", "active", "--json").output.splitlines()
    ]
    assert active == [ALERT]

    refused = cli("alerts", "reject", ALERT, "--reason", "misread")
    assert refused.exit_code == 1
    assert "is a stateful alert, not a hit: only a hit can be rejected" in refused.output
