"""The heartbeat: its config, and one beat against a real local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contract.heartbeat import Heartbeat, HeartbeatConfig, all_healthy, load_heartbeat
from contract.mapping import MappingReader
from contract.problems import ProblemSink
from tests.support.http_sink import HttpSink


@pytest.fixture
def pings() -> Iterator[HttpSink]:
    server = HttpSink()
    yield server
    server.close()


def read(data: dict[str, object]) -> tuple[HeartbeatConfig | None, list[str]]:
    sink = ProblemSink("rules.yaml")
    config = load_heartbeat(MappingReader({"heartbeat": data}, "", sink))
    return config, [str(p) for p in sink.problems]


def test_heartbeat_config_reads_url_every_and_max_lag() -> None:
    """every takes a duration; max_lag defaults to 10000."""
    config, found = read({"url": "https://hc.example/abc", "every": "1m"})
    assert found == []
    assert config == HeartbeatConfig("https://hc.example/abc", 60.0, 10_000)


def test_bad_heartbeat_config_names_the_field() -> None:
    """A non-http URL and a bad duration are reported at heartbeat.url and heartbeat.every."""
    config, found = read({"url": "file:///etc/passwd", "every": "often", "extra": 1})
    assert config is None
    assert any("heartbeat.url" in p and "http://" in p for p in found), found
    assert any("heartbeat.every" in p and "duration" in p for p in found), found
    assert any("heartbeat.extra" in p for p in found), found


def test_a_beat_pings_while_healthy_and_not_when_unhealthy(pings: HttpSink) -> None:
    """Healthy: one GET to the URL. Unhealthy (any failing check): no request at all."""
    state = {"redis": True}
    healthy = all_healthy(lambda: (True, "partitions"), lambda: (state["redis"], "redis"))
    beat = Heartbeat(HeartbeatConfig(pings.url("/ping"), every=60), healthy)

    assert beat.beat() is True
    assert len(pings.requests("/ping")) == 1
    state["redis"] = False
    assert beat.beat() is False
    assert len(pings.requests("/ping")) == 1
    assert beat.pings == 1
