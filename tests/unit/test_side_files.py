"""Side files of a rules file: per-device overrides and expected devices, read and watched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.reload import Reloader
from rules.config import KlaxonConfig, check_config
from rules.range import RangeRule
from rules.stateful import Limits, ThresholdRule
from tests.support import yamlfile

SLACK = {"slack": {"enabled": True, "webhook_url": "https://hooks.example/T/B/X"}}


def band(**extra: Any) -> dict[str, Any]:
    return {
        "id": "temp",
        "type": "range",
        "metric": "temperature",
        "notify": ["slack"],
        "levels": [
            {"severity": "warning", "low": 25, "high": 27},
            {"severity": "critical", "low": 24, "high": 28},
        ],
        **extra,
    }


def write_rules(tmp_path: Path, *rules: dict[str, Any]) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yamlfile.dump({"notifications": SLACK, "rules": list(rules)}))
    return path


def loaded(path: Path) -> tuple[KlaxonConfig | None, list[str]]:
    config, problems = check_config(path, env={})
    return config, [str(p) for p in problems if not p.warning]


def test_overrides_from_a_csv_file_with_severities_and_an_inline_override_winning(
    tmp_path: Path,
) -> None:
    """CSV rows override per severity; empty cells keep the rule's; inline wins per device."""
    (tmp_path / "limits.csv").write_text(
        "device,severity,low,high\nfrag-tank,warning,,26.5\nfrag-tank,critical,,27.5\n"
        "sump,warning,24.5,\n"
    )
    path = write_rules(
        tmp_path, band(overrides_file="limits.csv", overrides={"sump": {"warning": {"low": 24}}})
    )
    config, errors = loaded(path)
    assert errors == []
    assert config is not None
    (rule,) = config.rules
    assert isinstance(rule, RangeRule)
    frag = rule.levels_for("frag-tank")
    assert [(lv.low, lv.high) for lv in frag] == [(25.0, 26.5), (24.0, 27.5)]
    assert frag[0].limit_source == "override for frag-tank"
    assert rule.levels_for("sump")[0].low == 24.0  # inline, not the file's 24.5
    assert config.side_files == (tmp_path / "limits.csv",)


def test_overrides_from_a_yaml_file_on_a_one_band_rule(tmp_path: Path) -> None:
    """YAML in the shape of overrides: {device: {high: ...}}."""
    (tmp_path / "limits.yaml").write_text("frag-tank: {high: 26.5}\n")
    one_band = {k: v for k, v in band().items() if k != "levels"}
    config, errors = loaded(
        write_rules(tmp_path, {**one_band, "low": 25, "high": 27, "overrides_file": "limits.yaml"})
    )
    assert errors == []
    assert config is not None
    (rule,) = config.rules
    assert isinstance(rule, RangeRule)
    assert (rule.levels_for("frag-tank")[0].low, rule.levels_for("frag-tank")[0].high) == (
        25.0,
        26.5,
    )


def test_a_bad_side_file_is_reported_with_rule_field_file_and_line(tmp_path: Path) -> None:
    """A missing file, and a CSV cell that is not a number, name the rule field and the line."""
    (tmp_path / "bad.csv").write_text("device,low,high\nfrag-tank,low,26\n")
    _, errors = loaded(
        write_rules(
            tmp_path,
            band(overrides_file="bad.csv"),
            {**band(overrides_file="nowhere.yaml"), "id": "b"},
        )
    )
    assert any("rules[0].overrides_file" in e and "line 2" in e for e in errors), errors
    assert any("rules[1].overrides_file" in e and "file not found" in e for e in errors), errors


def test_expected_devices_from_a_text_file_join_the_listed_ones(tmp_path: Path) -> None:
    """One id a line, comments skipped, added to expected_devices."""
    (tmp_path / "tanks.txt").write_text("# the tanks\ndisplay-tank\n\nfrag-tank  # corals\n")
    rule = {
        "id": "hot",
        "type": "threshold",
        "metric": "temperature",
        "operator": ">",
        "threshold": 28,
        "notify": ["slack"],
        "no_data_seconds": "10m",
        "expected_devices": ["sump"],
        "expected_devices_file": "tanks.txt",
    }
    config, errors = loaded(write_rules(tmp_path, rule))
    assert errors == []
    assert config is not None
    (loaded_rule,) = config.rules
    assert isinstance(loaded_rule, ThresholdRule)
    assert loaded_rule.expected_devices == ("sump", "display-tank", "frag-tank")


def test_a_changed_side_file_asks_for_a_reload(tmp_path: Path) -> None:
    """The watcher fingerprints the rules file and its side files; a new limit reloads."""
    limits = tmp_path / "limits.yaml"
    limits.write_text("frag-tank: {warning: {high: 26.5}}\n")
    path = write_rules(tmp_path, band(overrides_file="limits.yaml"))
    applied: list[KlaxonConfig] = []
    config, _ = check_config(path, env={})
    assert config is not None
    assert config.watched_files == (limits,)
    reloader = Reloader(
        path, "plates", applied.append, poll_seconds=0.01, watched=config.watched_files
    )
    limits.write_text("frag-tank: {warning: {high: 26.0}}\n")
    reloader.start_watching()
    try:
        assert reloader.requested.wait(timeout=30)
    finally:
        reloader.stop()
    assert reloader.reload_if_requested() is True
    (rule,) = applied[0].rules
    assert isinstance(rule, RangeRule)
    assert rule.levels_for("frag-tank")[0].high == 26.0


def test_a_yaml_bomb_in_a_side_file_is_refused_as_in_the_rules_file(tmp_path: Path) -> None:
    """An alias in an overrides or expected-devices YAML file is a config error, not a hang."""
    bomb = 'a: &a ["x", "x"]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b]\n'
    (tmp_path / "limits.yaml").write_text(bomb)
    (tmp_path / "devices.yaml").write_text("- &d display-tank\n- *d\n")
    one_band = {k: v for k, v in band().items() if k != "levels"}
    _, errors = loaded(
        write_rules(
            tmp_path,
            {**one_band, "low": 25, "high": 27, "overrides_file": "limits.yaml"},
            {
                **band(),
                "id": "b",
                "no_data_seconds": 60,
                "expected_devices_file": "devices.yaml",
            },
        )
    )
    assert any(
        "rules[0].overrides_file" in e and "anchor" in e and "limits.yaml" in e for e in errors
    ), errors
    assert any(
        "rules[1].expected_devices_file" in e and "anchor" in e and "devices.yaml" in e
        for e in errors
    ), errors


def hot(**extra: Any) -> dict[str, Any]:
    return {
        "id": "hot",
        "type": "threshold",
        "metric": "temperature",
        "operator": ">",
        "threshold": 27,
        "resolve_threshold": 26.8,
        "notify": ["slack"],
        **extra,
    }


def test_threshold_overrides_from_csv_keep_the_rules_value_in_an_empty_cell(
    tmp_path: Path,
) -> None:
    """device,threshold,resolve_threshold; an empty cell keeps the rule's; inline wins."""
    (tmp_path / "limits.csv").write_text(
        "device,threshold,resolve_threshold\nfrag-tank,26.5,26.0\nsump,28,\ndisplay-tank,29,28\n"
    )
    config, errors = loaded(
        write_rules(
            tmp_path,
            hot(overrides_file="limits.csv", overrides={"display-tank": {"threshold": 27.5}}),
        )
    )
    assert errors == []
    assert config is not None
    (rule,) = config.rules
    assert isinstance(rule, ThresholdRule)
    assert rule.limits_for("frag-tank") == Limits(26.5, 26.0, "override for frag-tank")
    assert rule.limits_for("sump") == Limits(28.0, 26.8, "override for sump")
    assert rule.limits_for("display-tank") == Limits(27.5, 26.8, "override for display-tank")
    assert config.side_files == (tmp_path / "limits.csv",)


def test_threshold_overrides_from_yaml(tmp_path: Path) -> None:
    """YAML in the shape of overrides: {device: {threshold: ..}}."""
    (tmp_path / "limits.yaml").write_text("frag-tank: {threshold: 26.5, resolve_threshold: 26}\n")
    config, errors = loaded(write_rules(tmp_path, hot(overrides_file="limits.yaml")))
    assert errors == []
    assert config is not None
    (rule,) = config.rules
    assert isinstance(rule, ThresholdRule)
    assert rule.limits_for("frag-tank") == Limits(26.5, 26.0, "override for frag-tank")


def test_bad_threshold_override_files_name_rule_field_file_line_and_key(tmp_path: Path) -> None:
    """A non-number cell and a wrong-side resolve_threshold (CSV, with lines), an unknown YAML
    key, an unknown CSV column."""
    (tmp_path / "cells.csv").write_text("device,threshold\nfrag-tank,26.5\nsump,warm\n")
    (tmp_path / "sides.csv").write_text(
        "device,threshold,resolve_threshold\nfrag-tank,26.5,26.0\nsump,26.5,\n"
    )
    (tmp_path / "keys.yaml").write_text("frag-tank: {threshhold: 26.5}\n")
    (tmp_path / "columns.csv").write_text("device,threshold,high\nfrag-tank,26.5,27\n")
    _, errors = loaded(
        write_rules(
            tmp_path,
            hot(overrides_file="cells.csv"),
            {**hot(overrides_file="sides.csv"), "id": "b"},
            {**hot(overrides_file="keys.yaml"), "id": "c"},
            {**hot(overrides_file="columns.csv"), "id": "d"},
        )
    )
    cells, sides, keys, columns = (
        tmp_path / n for n in ("cells.csv", "sides.csv", "keys.yaml", "columns.csv")
    )
    assert errors == [
        f'{tmp_path / "rules.yaml"}: rule "hot": rules[0].overrides_file: '
        f"{cells} line 3: threshold 'warm' is not a number",
        f'{tmp_path / "rules.yaml"}: rule "b": rules[1].overrides_file: {sides} line 3: '
        'sump.resolve_threshold (the rule\'s) must be <= threshold (26.5) with operator ">", '
        "got 26.8: the alert resolves once the value is no longer > resolve_threshold",
        f'{tmp_path / "rules.yaml"}: rule "c": rules[2].overrides_file: {keys}: '
        "frag-tank.threshhold is an unknown key (expected threshold or resolve_threshold)",
        f'{tmp_path / "rules.yaml"}: rule "d": rules[3].overrides_file: {columns}: '
        "the header must be device,threshold[,resolve_threshold] (unknown: high)",
    ]


def test_a_device_listed_twice_in_a_yaml_side_file_is_an_error_as_in_the_rules_file(
    tmp_path: Path,
) -> None:
    """YAML keeps only the last of two equal keys; a side file says so instead, naming it."""
    (tmp_path / "limits.yaml").write_text(
        "frag-tank: {threshold: 26.5}\nfrag-tank: {threshold: 30}\n"
    )
    config, errors = loaded(write_rules(tmp_path, hot(overrides_file="limits.yaml")))
    assert config is None
    assert any('line 2: duplicate key "frag-tank"' in e for e in errors), errors
