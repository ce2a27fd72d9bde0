"""The watchlists section and in_watchlist rules: loading, and every mistake named."""

from __future__ import annotations

from pathlib import Path

from rules.config import check_config
from rules.model import Rule
from rules.watchlists.operator import match_values

HEADER = """
notifications:
  webhook: {url: "http://127.0.0.1:9/hook"}
"""

RULE = """
rules:
  - id: hot
    notify: [webhook]
    conditions: [{{field: plate.normalized_text, operator: in_watchlist, value: {value}}}]
    message_template: "{{match.entry.plate}} {{match.entry.reason}} {{match.kind}}"
"""


def _config(tmp_path: Path, watchlists: str, value: str = "stolen") -> tuple[object, list[str]]:
    path = tmp_path / "rules.yaml"
    path.write_text(HEADER + watchlists + RULE.format(value=value))
    config, problems = check_config(path, env={})
    return config, [str(p) for p in problems if not p.warning]


def test_csv_list_loads_and_a_rule_matches_a_misread_with_the_entry(tmp_path: Path) -> None:
    """A CSV hotlist with confusables matches A8C123 to ABC123 and carries its reason."""
    (tmp_path / "stolen.csv").write_text("plate,reason,case\nabc-123,stolen,C1\nXYZ9,fraud,\n")
    config, errors = _config(
        tmp_path, "watchlists:\n  stolen: {file: stolen.csv, confusables: true}\n"
    )
    assert errors == []
    assert config is not None
    rule = config.rules[0]  # type: ignore[attr-defined]
    assert isinstance(rule, Rule)
    event = {"plate": {"normalized_text": "A8C123"}}
    assert rule.matches(event)
    values = match_values(rule.conditions, event)
    assert values is not None
    assert rule.render_message({**event, **values}) == "ABC123 stolen confusable"
    assert config.watched_files == (tmp_path / "stolen.csv",)  # type: ignore[attr-defined]


def test_unknown_list_names_file_rule_and_field(tmp_path: Path) -> None:
    """A rule naming a list that does not exist is refused with file, rule and field."""
    _, errors = _config(tmp_path, "watchlists:\n  stolen: {plates: [ABC123]}\n", "stolne")
    assert len(errors) == 1
    assert "rules.yaml" in errors[0]
    assert "hot" in errors[0]
    assert "rules[0].conditions[0].value" in errors[0]
    assert 'unknown watchlist "stolne" (did you mean "stolen"?)' in errors[0]


def test_bad_max_distance_is_refused(tmp_path: Path) -> None:
    """max_distance outside 0, 1, 2 is an error on watchlists.NAME.max_distance."""
    _, errors = _config(tmp_path, "watchlists:\n  stolen: {plates: [ABC123], max_distance: 3}\n")
    assert any("watchlists.stolen.max_distance" in e and "expected 0, 1 or 2" in e for e in errors)


def test_wildcard_in_an_exact_list_is_refused_with_its_row(tmp_path: Path) -> None:
    """A * entry in a list without wildcards: true names the file row and the fix."""
    (tmp_path / "stolen.csv").write_text("plate,reason\nABC123,stolen\n7GX*,gang\n")
    _, errors = _config(tmp_path, "watchlists:\n  stolen: {file: stolen.csv}\n")
    assert len(errors) == 1
    assert "watchlists.stolen.file" in errors[0]
    assert "stolen.csv row 3" in errors[0]
    assert "wildcards: true" in errors[0]


def test_broken_csv_rows_are_each_named(tmp_path: Path) -> None:
    """Empty plate, bad characters, bad date, conflicting duplicate: one error per row."""
    (tmp_path / "stolen.csv").write_text(
        "plate,reason,expires_at\n"
        "ABC123,stolen,\n"
        ",stolen,\n"
        "AB$12,stolen,\n"
        "XYZ9,fraud,next tuesday\n"
        "abc 123,fraud,\n"
        "ABC123,stolen,\n"
    )
    _, errors = _config(tmp_path, "watchlists:\n  stolen: {file: stolen.csv}\n")
    text = "\n".join(errors)
    assert "row 3: plate is empty" in text
    assert "row 4: plate 'AB$12' has characters other than letters and digits" in text
    assert "row 5: expires_at: expected an ISO 8601 date" in text
    assert "row 6: plate ABC123 is listed again with a different reason (first at row 2)" in text
    assert "row 7" not in text  # same plate, same reason: not a conflict
    assert len(errors) == 4


def test_unknown_column_type_is_named(tmp_path: Path) -> None:
    """A header cell name:type with an unknown type is reported on row 1."""
    (tmp_path / "stolen.csv").write_text("plate,speed:decimal\nABC123,4\n")
    _, errors = _config(tmp_path, "watchlists:\n  stolen: {file: stolen.csv}\n")
    assert len(errors) == 1
    assert 'row 1: column "speed:decimal": unknown column type "decimal"' in errors[0]


def test_a_list_needs_a_file_or_plates(tmp_path: Path) -> None:
    """A list with neither file nor plates is refused."""
    _, errors = _config(tmp_path, "watchlists:\n  stolen: {max_distance: 1}\n")
    assert any("watchlists.stolen" in e and "needs either file" in e for e in errors)
