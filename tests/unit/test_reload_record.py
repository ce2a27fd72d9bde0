"""The bridge records each reload's outcome in Redis, where the console's rules page reads it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import redis

from contract.reloads import ReloadResult, last_reload, record_reload
from ingest.reload import Reloader

RULE = {
    "id": "watch",
    "notify": ["webhook"],
    "conditions": [{"field": "camera_id", "operator": "exists"}],
    "message_template": "seen {camera_id}",
}
WEBHOOK = {"webhook": {"url": "http://127.0.0.1:9/hook"}}


def reloader(path: Path, client: redis.Redis) -> Reloader:
    return Reloader(
        path,
        "plates",
        lambda config: None,
        record=lambda result: record_reload(client, result),
        clock=lambda: 1_700_000_000.0,
    )


def test_nothing_is_recorded_before_a_reload(redis_client: redis.Redis) -> None:
    """Before any bridge reloads, the page has nothing to show (not an error)."""
    assert last_reload(redis_client) is None


def test_a_good_reload_is_recorded_with_its_rule_count(
    redis_client: redis.Redis, write_config: Callable[..., Path]
) -> None:
    """A reload that runs records when, ok, how many rules and which file."""
    path = write_config(WEBHOOK, [RULE, {**RULE, "id": "other"}])
    loader = reloader(path, redis_client)
    loader.request()
    assert loader.reload_if_requested() is True
    assert last_reload(redis_client) == ReloadResult(
        at=1_700_000_000.0, ok=True, rules=2, error="", path=str(path)
    )


def test_a_refused_reload_is_recorded_naming_the_field(
    redis_client: redis.Redis, write_config: Callable[..., Path]
) -> None:
    """A refused reload records why, field by field, so the console can say it."""
    path = write_config(WEBHOOK, [{**RULE, "notify": ["pager"]}])
    loader = reloader(path, redis_client)
    loader.request()
    assert loader.reload_if_requested() is False
    found = last_reload(redis_client)
    assert found is not None and not found.ok and found.rules == 0
    assert "rules[0].notify" in found.error and "pager" in found.error


def test_a_failing_record_does_not_fail_the_reload(write_config: Callable[..., Path]) -> None:
    """Redis down while recording: the new rules still run."""

    def broken(result: ReloadResult) -> None:
        raise redis.ConnectionError("down")

    loader = Reloader(write_config(WEBHOOK, [RULE]), "plates", lambda config: None, record=broken)
    loader.request()
    assert loader.reload_if_requested() is True
