"""``klaxon replay`` bounds: offsets, times and ages, and a clear error for anything else."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from contract.settings import PROJECT_ROOT
from klaxon.cli import main
from klaxon.rulestest.replay import Bound, ReplayError, parse_bound

NOW = 1_800_000_000.0


def test_a_number_is_an_offset_an_age_counts_back_and_a_time_is_utc() -> None:
    """1200 is an offset, 2h is two hours before now, a naive ISO time is UTC."""
    assert parse_bound("1200", "--from", NOW) == Bound(offset=1200)
    assert parse_bound("2h", "--from", NOW) == Bound(at_ms=int((NOW - 7200) * 1000))
    at = dt.datetime(2027, 1, 15, 8, tzinfo=dt.UTC).timestamp()
    assert parse_bound("2027-01-15T08:00:00", "--to", NOW) == Bound(at_ms=int(at * 1000))


def test_anything_else_names_the_option() -> None:
    """`--from yesterday` is refused with the three forms it can take."""
    with pytest.raises(ReplayError, match=r"--from: 'yesterday' is not an offset \(1200\)"):
        parse_bound("yesterday", "--from", NOW)


def test_the_cli_refuses_a_bad_bound_before_touching_kafka() -> None:
    """A bad --to exits 2 with the option named (no broker is needed to say so)."""
    result = CliRunner().invoke(
        main,
        [
            "replay",
            "--topic",
            "x",
            "--from",
            "0",
            "--to",
            "soon",
            "--rules",
            str(PROJECT_ROOT / "config" / "dev.yaml"),
        ],
    )
    assert result.exit_code == 2
    assert "error: --to: 'soon' is not an offset" in result.output
