"""Which key matchers single out exactly one value (klaxon.console.alert_silence)."""

from __future__ import annotations

import pytest

from klaxon.console.alert_silence import exact_matcher


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ABC123", "plate.normalized_text=ABC123"),
        ("tank 1", "plate.normalized_text=tank 1"),
        ("=x", "plate.normalized_text==x"),
        ("~.*", None),  # would read as the regex operator =~
        (" ABC", None),  # a form line is stripped: another value
        ("A\nB", None),
        ("A\u2028B", None),
        ("", None),
    ],
)
def test_exact_matcher(value: str, expected: str | None) -> None:
    assert exact_matcher("plate.normalized_text", value) == expected
