"""A per-device threshold override end to end: real Kafka, Redis, bridge, worker, webhook sink."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Stack
from tests.support.http_sink import HttpSink
from tests.support.readings import READING_SCHEMA_PATH, ReadingProducer, reading
from tests.support.wait import wait_until

DEADLINE = 60


def test_a_per_device_override_from_a_csv_file_wins_over_the_rule_and_is_named(
    stack: Stack,
    kafka: str,
    topic: str,
    sink: HttpSink,
    tmp_path: Path,
    write_config: Callable[..., Path],
) -> None:
    """26.8 fires on the frag tank (its 26.5 from limits.csv), not on tank-1 (the rule's 27)."""
    (tmp_path / "limits.csv").write_text("device,threshold,resolve_threshold\nfrag-tank,26.5,\n")
    config = write_config(
        {"webhook": {"url": sink.url("/hook")}},
        [
            {
                "id": "too-hot",
                "name": "Too hot",
                "source": topic,
                "type": "threshold",
                "metric": "temperature",
                "operator": ">",
                "threshold": 27.0,
                "overrides_file": "limits.csv",
                "notify": ["webhook"],
            }
        ],
        sources={topic: {"format": "avro", "schema": str(READING_SCHEMA_PATH)}},
    )
    events = {"KLAXON_ALERT_EVENTS_TOPIC": f"{topic}.alert-events"}
    stack.worker(config, queues="notify.webhook", **events)
    stack.bridge(config, **events)
    ReadingProducer(kafka, topic).send(
        reading("frag-tank", "temperature", 26.8, 0),
        reading("tank-1", "temperature", 26.8, 0),
        # Later than tank-1's 26.8 on the same partition: once it is in, that one was judged.
        reading("tank-1", "temperature", 27.3, 60),
    )

    def triggers() -> dict[str, dict[str, Any]]:
        posted = [r.json() for r in sink.requests("/hook")]
        return {str(p["event"]["device_id"]): p for p in posted if p["transition"] == "trigger"}

    wait_until(
        lambda: {"frag-tank", "tank-1"} <= set(triggers()),
        timeout=DEADLINE,
        message=lambda: f"both tanks' triggers, got {list(triggers())}",
    )
    frag, tank = triggers()["frag-tank"], triggers()["tank-1"]
    assert (
        frag["message"] == "Too hot: frag-tank temperature = 26.8 (> 26.5, override for frag-tank)"
    )
    assert (frag["alert"]["threshold"], frag["alert"]["limit_source"]) == (
        26.5,
        "override for frag-tank",
    )
    # tank-1's first 26.8 did not fire: its alert is the 27.3, against the rule's own limit.
    assert tank["message"] == "Too hot: tank-1 temperature = 27.3 (> 27.0, rule)"
    assert len(sink.requests("/hook")) == 2
