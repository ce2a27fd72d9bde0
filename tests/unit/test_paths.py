"""Dot paths into nested events."""

from __future__ import annotations

import pytest

from rules.paths import MISSING, PathError, compile_path, parse_path

EVENT = {
    "plate": {"normalized_text": "ABC123", "region": None, "chars": [{"c": "A"}, {"c": "B"}]},
    "camera_id": "cam-1",
    "a": {"b": {"c": {"d": 4}}},
    "map": {"0": "zero"},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("camera_id", "cam-1"),
        ("plate.normalized_text", "ABC123"),
        ("plate.region", None),
        ("a.b.c", {"d": 4}),
        ("a.b.c.d", 4),
        ("plate.chars.1.c", "B"),
        ("map.0", "zero"),
    ],
)
def test_getter_reads_nested_values(path: str, expected: object) -> None:
    """A getter follows mappings by key and lists by numeric segment."""
    assert compile_path(path)(EVENT) == expected


@pytest.mark.parametrize(
    "path",
    [
        "nope",
        "plate.nope",
        "camera_id.x",  # indexing into a string
        "plate.region.x",  # indexing into None
        "plate.chars.5.c",  # past the end of a list
        "plate.chars.x",  # a name on a list
        "a.b.c.d.e",  # into an int
        "a.b.c.d.e.f",
    ],
)
def test_getter_returns_missing_when_path_leads_nowhere(path: str) -> None:
    """A path that does not fit the event gives MISSING, never an exception."""
    assert compile_path(path)(EVENT) is MISSING


def test_getter_tolerates_non_mapping_events() -> None:
    """An event that is not a mapping at all reads as missing."""
    get = compile_path("plate.normalized_text")
    for event in (None, "text", 42, [1, 2], b"bytes"):
        assert get(event) is MISSING


def test_parse_path_keeps_numeric_segments_as_indexes() -> None:
    """Numeric segments after the first become ints, names stay strings."""
    assert parse_path("plate.chars.0.c") == ("plate", "chars", 0, "c")


@pytest.mark.parametrize(
    "path", ["", ".a", "a.", "a..b", "0", "0.a", "a b", "a-b", "a[0]", "a.__class__", "__x__"]
)
def test_parse_path_rejects_malformed_paths(path: str) -> None:
    """Empty segments, leading digits, brackets and dunder names are rejected."""
    with pytest.raises(PathError):
        parse_path(path)


def test_missing_is_falsy_and_named() -> None:
    """MISSING reads as MISSING and is falsy."""
    assert repr(MISSING) == "MISSING"
    assert not MISSING
