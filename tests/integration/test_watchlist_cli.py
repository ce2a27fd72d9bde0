"""``klaxon watchlist check`` and ``stats`` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import klaxon


def test_check_names_the_row_of_every_error_and_exits_1(tmp_path: Path) -> None:
    """A broken CSV exits 1 and names each bad row; a good one reports its count."""
    bad = tmp_path / "bad.csv"
    bad.write_text("plate,reason,expires_at\nABC123,stolen,\n,x,\nXYZ9,y,someday\n")
    result = klaxon("watchlist", "check", str(bad))
    assert result.returncode == 1
    assert f"error: {bad} row 3: plate is empty" in result.stdout
    assert f"error: {bad} row 4: expires_at" in result.stdout
    good = tmp_path / "good.csv"
    good.write_text("plate,reason,expires_at\nABC123,stolen,\nXYZ9,y,2020-01-01\n")
    result = klaxon("watchlist", "check", str(good))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{good}: OK: 2 entries, 1 expired" in result.stdout


def test_stats_prints_the_count_and_the_expired_entries(tmp_path: Path) -> None:
    """stats NAME loads the rules file and lists the entries past their expires_at."""
    (tmp_path / "hot.csv").write_text(
        "plate,reason,expires_at\nABC123,stolen,\nOLD1,towed,2020-01-01\n"
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "notifications:\n  webhook: {url: 'http://127.0.0.1:9/h'}\n"
        "watchlists:\n  hot: {file: hot.csv, confusables: true, max_distance: 1}\n"
        "rules:\n  - id: hot\n    notify: [webhook]\n"
        "    conditions: [{field: plate.normalized_text, operator: in_watchlist, value: hot}]\n"
        "    message_template: '{match.entry.plate}'\n"
    )
    result = klaxon("watchlist", "stats", "hot", "--config", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hot: 2 entries, 1 expired" in result.stdout
    assert "expired: OLD1 at 2020-01-01T00:00:00+00:00 towed" in result.stdout
    missing = klaxon("watchlist", "stats", "cold", "--config", str(rules))
    assert missing.returncode == 1
    assert 'no watchlist "cold" (known: hot)' in missing.stderr
