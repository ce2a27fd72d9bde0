"""``klaxon silence add`` checks what it is given as the API does, before touching Redis."""

from __future__ import annotations

from click.testing import CliRunner

from klaxon.cli import main


def test_a_silence_longer_than_a_year_is_refused_as_by_the_api() -> None:
    result = CliRunner().invoke(
        main, ["silence", "add", "--match", "rule_id=tank", "--for", "400d"]
    )
    assert result.exit_code == 2
    assert "at most 31622400s" in result.output


def test_every_bad_matcher_is_named() -> None:
    result = CliRunner().invoke(
        main, ["silence", "add", "--match", "nonsense", "--match", "x=~(", "--for", "1h"]
    )
    assert result.exit_code == 2
    assert "nonsense" in result.output and "x=~(" in result.output
