"""The hotlist matcher: exact, confusables, edit distance, wildcards, candidates, expiry."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from rules.watchlists.confusables import DEFAULT_CLASSES, ConfusableTable
from rules.watchlists.matcher import MatchMode, PlateMatcher
from rules.watchlists.sources import read_inline

NOW = 1_800_000_000.0
FUZZY = MatchMode(ConfusableTable(), max_confusable=2, max_distance=1, wildcards=True)


def _matcher(plates: list[object], mode: MatchMode = FUZZY) -> PlateMatcher:
    table, problems = read_inline(plates, mode.wildcards)
    assert table is not None, problems
    return PlateMatcher("hot", table, mode, clock=lambda: NOW)


@dataclass(frozen=True)
class Case:
    name: str
    entries: list[object]
    read: object
    kind: str | None  # None: no match
    plate: str = ""
    distance: int = 0
    matched_read: str = ""
    mode: MatchMode = FUZZY


def _confusable_cases() -> list[Case]:
    cases = []
    for group in DEFAULT_CLASSES:
        for listed, misread in itertools.permutations(group, 2):
            cases.append(
                Case(
                    f"confusable {listed}->{misread}",
                    [f"X{listed}Y"],
                    f"X{misread}Y",
                    "confusable",
                    f"X{listed}Y",
                    1,
                )
            )
    return cases


CASES = [
    Case("exact", ["ABC123"], "ABC123", "exact", "ABC123"),
    Case("read is normalised", ["ABC123"], "abc-1 23", "exact", "ABC123", matched_read="ABC123"),
    Case("exact list ignores a misread", ["ABC123"], "A8C123", None, mode=MatchMode()),
    *_confusable_cases(),
    Case("a confusable plus another substitution", ["ABC123"], "A8C12E", None),
    Case("two confusables", ["ABC123"], "A8C1Z3", "confusable", "ABC123", 2),
    Case(
        "three confusables over the limit and not within distance 1",
        ["ABC123"],
        "A8CIZ3",
        None,
    ),
    Case("substitution outside classes", ["ABC123"], "AXC123", "distance", "ABC123", 1),
    Case("transposition", ["ABC123"], "ACB123", "distance", "ABC123", 1),
    Case("insertion", ["ABC123"], "ABCX123", "distance", "ABC123", 1),
    Case("deletion", ["ABC123"], "ABC23", "distance", "ABC123", 1),
    Case("two edits beyond max_distance 1", ["ABC123"], "AXC1Y3", None),
    Case(
        "distance 2 list",
        ["ABC123"],
        "AXC1Y3",
        "distance",
        "ABC123",
        2,
        mode=MatchMode(max_distance=2),
    ),
    Case("wildcard star", ["7GX*"], "7GX4411", "wildcard", "7GX*"),
    Case("wildcard question mark", ["AB?123"], "ABZ123", "wildcard", "AB?123"),
    Case("wildcard needs the whole read", ["AB?123"], "ABZ1234", None),
    Case(
        "candidates: the second read matches",
        ["ABC123"],
        {"normalized_text": "XYZ999", "candidates": [{"text": "ABC123", "confidence": 0.4}]},
        "exact",
        "ABC123",
        matched_read="ABC123",
    ),
    Case(
        "candidates as a list",
        ["ABC123"],
        [{"text": "QQQ000", "confidence": 0.9}, {"text": "A8C123", "confidence": 0.3}],
        "confusable",
        "ABC123",
        1,
        matched_read="A8C123",
    ),
    Case(
        "best match wins: exact over a confusable entry",
        ["A8C123", "ABC123"],
        "ABC123",
        "exact",
        "ABC123",
    ),
    Case(
        "best match wins: confusable over distance",
        ["ABC124", "A8C123"],
        "ABC123",
        "confusable",
        "A8C123",
        1,
    ),
    Case(
        "best match wins across candidates: exact candidate over a fuzzy main read",
        ["ABC123"],
        {"normalized_text": "ABX123", "candidates": [{"text": "ABC123", "confidence": 0.2}]},
        "exact",
        "ABC123",
        matched_read="ABC123",
    ),
    Case(
        "best match wins: distance over wildcard",
        ["ABC12*", "ABC124"],
        "ABC123",
        "distance",
        "ABC124",
        1,
    ),
    Case(
        "expired entry does not match",
        [{"plate": "ABC123", "expires_at": "2020-01-01"}],
        "ABC123",
        None,
    ),
    Case(
        "expired entry loses to a live fuzzy one",
        [{"plate": "ABC123", "expires_at": "2020-01-01"}, "A8C123"],
        "ABC123",
        "confusable",
        "A8C123",
        1,
    ),
    Case(
        "live entry with a future expiry",
        [{"plate": "ABC123", "expires_at": "2099-01-01T00:00:00+00:00"}],
        "ABC123",
        "exact",
        "ABC123",
    ),
    Case("no read", ["ABC123"], None, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matcher_case(case: Case) -> None:
    """Each read matches the expected entry, the expected way (or not at all)."""
    match = _matcher(case.entries, case.mode).best(case.read)
    if case.kind is None:
        assert match is None
        return
    assert match is not None
    assert (match.kind, match.entry.plate, match.distance) == (
        case.kind,
        case.plate,
        case.distance,
    )
    expected_read = case.matched_read or (case.read if isinstance(case.read, str) else "")
    assert match.read == expected_read


def test_expiry_follows_the_clock_without_a_reload() -> None:
    """An entry matches until its expires_at and stops at it, on the same matcher."""
    now = [NOW]
    table, _ = read_inline([{"plate": "ABC123", "expires_at": "2027-01-15T08:00:00Z"}], False)
    assert table is not None
    matcher = PlateMatcher("hot", table, MatchMode(), clock=lambda: now[0])
    deadline = table.expires[0]
    now[0] = deadline - 1
    assert matcher("ABC123")
    now[0] = deadline
    assert not matcher("ABC123")


def test_match_values_carry_the_entry_columns() -> None:
    """A match exposes the entry's columns, its kind, distance and read to templates."""
    matcher = _matcher([{"plate": "ABC123", "reason": "stolen", "case_no": "C-7"}])
    match = matcher.best("A8C123")
    assert match is not None
    assert match.template_values() == {
        "list": "hot",
        "kind": "confusable",
        "distance": 1,
        "read": "A8C123",
        "entry": {"plate": "ABC123", "reason": "stolen", "case_no": "C-7"},
    }
