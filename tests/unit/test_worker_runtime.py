"""Worker channel settings: loaded at start, changes picked up, a broken file refused once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from contract.settings import Settings
from tasks import runtime as runtime_module
from tasks.runtime import WorkerRuntime
from tests.support import yamlfile


def write(path: Path, url: str, mtime: float, broken: bool = False) -> None:
    rule = {
        "id": "r",
        "notify": ["webhook"],
        "message_template": "m",
        "conditions": [{"field": "camera_id", "operator": "exists"}],
    }
    if broken:
        rule["cooldown_second"] = 5
    path.write_text(yamlfile.dump({"notifications": {"webhook": {"url": url}}, "rules": [rule]}))
    os.utime(path, (mtime, mtime))


def test_a_broken_file_keeps_the_last_good_settings_and_is_parsed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """After a broken edit sends keep the old URL, and the error is logged once, not per send."""
    path = tmp_path / "rules.yaml"
    write(path, "http://127.0.0.1:1/old", mtime=1_000)
    runtime = WorkerRuntime(Settings(rules_config_path=path))
    monkeypatch.setattr(runtime_module, "CHECK_SECONDS", 0.0)
    runtime.preload()

    write(path, "http://127.0.0.1:1/new", mtime=2_000, broken=True)
    with caplog.at_level(logging.ERROR, logger="tasks.runtime"):
        urls = [runtime.channel("webhook")[0].settings.url for _ in range(5)]
    assert urls == ["http://127.0.0.1:1/old"] * 5
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "keeping the last good channel settings"
    ]

    write(path, "http://127.0.0.1:1/fixed", mtime=3_000)
    assert runtime.channel("webhook")[0].settings.url == "http://127.0.0.1:1/fixed"


def test_the_file_is_looked_at_no_more_often_than_the_check_interval(tmp_path: Path) -> None:
    """Within the check interval a send uses the loaded settings without touching the file."""
    path = tmp_path / "rules.yaml"
    write(path, "http://127.0.0.1:1/a", mtime=1_000)
    runtime = WorkerRuntime(Settings(rules_config_path=path))
    runtime.preload()
    write(path, "http://127.0.0.1:1/b", mtime=2_000)
    assert runtime.channel("webhook")[0].settings.url == "http://127.0.0.1:1/a"
