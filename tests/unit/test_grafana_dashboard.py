"""The Grafana dashboard shows only metrics that Klaxon exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

import contract.metrics
import history.recorder

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "klaxon.json"
# Klaxon's metric names: the seed's alert_engine_* and our klaxon_*.
_NAME = re.compile(r"\b(?:alert_engine|klaxon)_[a-zA-Z0-9_]+")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def _series_names(family: Metric) -> set[str]:
    return {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}


def _exported() -> set[str]:
    assert contract.metrics.events_consumed is not None  # the bridge's and workers' metrics
    assert history.recorder.lag_metric is not None  # the recorder's
    return {name for family in REGISTRY.collect() for name in _series_names(family)}


def _expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_every_panel_expression_names_an_exported_metric() -> None:
    """Each panel's query names at least one metric, and every metric it names is exported."""
    exported = _exported()
    expressions = _expressions()
    assert len(expressions) >= 10
    for title, expr in expressions:
        names = set(_NAME.findall(expr))
        assert names, f"panel {title!r} names no Klaxon metric: {expr}"
        assert names <= exported, f"panel {title!r}: {sorted(names - exported)} not exported"


def test_the_check_catches_a_misspelt_metric() -> None:
    """A name Klaxon does not export is not in the exported set (the check can fail)."""
    assert "klaxon_recorder_lagg" not in _exported()
    assert "klaxon_recorder_lag" in _exported()
