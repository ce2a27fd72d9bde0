"""A CSV hotlist through the real bridge, worker and webhook: fuzzy hits, cooldown, reload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import redis

from tests.conftest import Stack
from tests.support.http_sink import HttpSink
from tests.support.kafka import PlateProducer, plate_event
from tests.support.queues import drained
from tests.support.schema_registry import SchemaRegistryDouble
from tests.support.wait import wait_until

TEMPLATE = (
    "{match.entry.plate} ({match.entry.reason}) read {match.read}: {match.kind} {match.distance}"
)


def _config(write_config: Callable[..., Path], sink: HttpSink, topic: str, csv: Path) -> Path:
    return write_config(
        {"webhook": {"url": sink.url("/hook")}},
        [
            {
                "id": "hotlist",
                "source": topic,
                "conditions": [
                    {"field": "plate", "operator": "in_watchlist", "value": "stolen_vehicles"}
                ],
                "notify": ["webhook"],
                "rate_limit": {"cooldown_seconds": 300, "dedup_key": "match.entry.plate"},
                "message_template": TEMPLATE,
            }
        ],
        watchlists={"stolen_vehicles": {"file": str(csv), "confusables": True}},
    )


def test_misread_alerts_once_as_confusable_and_the_true_read_shares_its_cooldown(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    tmp_path: Path,
    redis_client: redis.Redis,
) -> None:
    """A8C123 alerts for hotlisted ABC123; the true read 10 s later is held by the cooldown."""
    csv = tmp_path / "stolen.csv"
    csv.write_text("plate,reason,case_no\nABC123,stolen,C-17\nMARK01,marker,\n")
    config = _config(write_config, sink, topic, csv)
    stack.worker(config)
    stack.bridge(config)
    producer = PlateProducer(kafka, registry.url, topic)
    misread = plate_event("A8C123")
    true_read = plate_event("ABC123", captured_at=misread["captured_at"] + 10_000)
    # One camera, one partition: the marker is processed after the two reads.
    producer.send(misread, true_read, plate_event("MARK01"))
    sink.wait_for(1, "/hook", where=lambda r: r.json()["message"].startswith("MARK01"))
    # The bridge enqueued all three reads' tasks before the marker's; once the queue is
    # empty, whatever the true read would have sent has been sent (the worker is concurrent,
    # so the order of arrival says nothing).
    wait_until(lambda: drained(redis_client), message="queue drained")
    messages = sorted(r.json()["message"] for r in sink.requests("/hook"))
    assert messages == [
        "ABC123 (stolen) read A8C123: confusable 1",
        "MARK01 (marker) read MARK01: exact 0",
    ]


def test_a_rewritten_hotlist_takes_effect_without_a_restart(
    stack: Stack,
    kafka: str,
    registry: SchemaRegistryDouble,
    sink: HttpSink,
    topic: str,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """A plate added to the CSV alerts once the bridge has reloaded; a broken CSV is refused."""
    csv = tmp_path / "stolen.csv"
    csv.write_text("plate,reason\nABC123,stolen\n")
    config = _config(write_config, sink, topic, csv)
    stack.worker(config)
    bridge = stack.bridge(config)
    producer = PlateProducer(kafka, registry.url, topic)

    csv.write_text("plate,reason\nABC123,stolen\n,broken\n")
    bridge.wait_for_log("reload refused, keeping the last good rules", timeout=20)
    assert "stolen.csv row 3: plate is empty" in bridge.log()
    assert bridge.alive

    csv.write_text("plate,reason\nABC123,stolen\nNEW777,added later\n")
    bridge.wait_for_log("rules reloaded from", timeout=20)
    producer.send(plate_event("NEW777"))
    (post,) = sink.wait_for(1, "/hook")
    assert post.json()["message"] == "NEW777 (added later) read NEW777: exact 0"
