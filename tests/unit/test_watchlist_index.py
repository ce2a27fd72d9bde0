"""The fuzzy index: its one-pass distance check and its bit-filtered hash lookup."""

from __future__ import annotations

import itertools
import random

from rules.watchlists.distance import deletions, edit_distance
from rules.watchlists.matcher import HashIndex


def _words(alphabet: str, longest: int) -> list[str]:
    return [
        "".join(letters)
        for length in range(longest + 1)
        for letters in itertools.product(alphabet, repeat=length)
    ]


def test_distance_one_agrees_with_the_full_table() -> None:
    """With limit 1, the one-pass check says what the full alignment table says."""
    words = _words("AB1", 4)
    for a, b in itertools.product(words, repeat=2):
        assert edit_distance(a, b, 1) == min(edit_distance(a, b, 2), 2), (a, b)


def test_deletions_at_depth_one_are_the_text_and_each_single_deletion() -> None:
    """Depth 1 yields the text itself and every string one character shorter."""
    assert deletions("ABA", 1) == {"ABA", "BA", "AA", "AB"}
    assert deletions("ABA", 2) == {"ABA", "BA", "AA", "AB", "A", "B"}


def test_index_finds_every_filed_word_and_nothing_else() -> None:
    """Every filed word returns its positions; absent words (past the filter) return none."""
    rnd = random.Random(5)
    filed = sorted({"".join(rnd.choices("ABCDEFG123", k=6)) for _ in range(20_000)})
    index = HashIndex((position, [word, word[::-1]]) for position, word in enumerate(filed))
    for position, word in enumerate(filed):
        assert position in index.lookup([word])
        assert position in index.lookup([word[::-1]])
    absent = [word + "X" for word in filed[:2_000]]
    assert index.lookup(absent) == set()
    assert index.nbytes >= 12 * 2 * len(filed)
