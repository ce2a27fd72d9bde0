"""When Chromium is missing the browser tests skip with a reason that says how to install it."""

from __future__ import annotations

from pathlib import Path

from tests.browser.chromium import INSTALL_HINT, launch_args, missing_reason


def test_an_executable_chromium_gives_no_reason_to_skip(tmp_path: Path) -> None:
    """An executable file at the path: the browser tests run."""
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    assert missing_reason(chromium) is None


def test_a_missing_chromium_names_the_path_and_the_install_command(tmp_path: Path) -> None:
    """No file: the reason names the path and `sudo apt-get install -y chromium`."""
    reason = missing_reason(tmp_path / "chromium")
    assert reason is not None
    assert str(tmp_path / "chromium") in reason
    assert INSTALL_HINT in reason


def test_a_non_executable_file_counts_as_missing(tmp_path: Path) -> None:
    """A file without the execute bit cannot be launched, so it is as good as missing."""
    chromium = tmp_path / "chromium"
    chromium.write_text("")
    chromium.chmod(0o644)
    assert missing_reason(chromium) is not None


def test_only_root_turns_the_sandbox_off() -> None:
    """Chromium's sandbox refuses root; other users keep it."""
    assert launch_args(uid=0) == ["--no-sandbox"]
    assert launch_args(uid=1000) == []
