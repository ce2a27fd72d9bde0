"""Edit distance between two plate reads, bounded: an adjacent transposition counts as one.

Optimal string alignment (restricted Damerau-Levenshtein): substitutions, insertions,
deletions and swaps of two neighbours each cost 1. OCR swaps neighbours often enough that
``AB1C23`` for ``ABC123`` should be one difference, not two.
"""

from __future__ import annotations


def edit_distance(a: str, b: str, limit: int) -> int:
    """The distance between ``a`` and ``b``, or ``limit + 1`` when it is larger."""
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    if limit == 1:
        return 1 if _one_apart(a, b) else 2
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, before[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return min(previous[len(b)], limit + 1)


def deletions(text: str, depth: int) -> set[str]:
    """``text`` and every string made from it by deleting up to ``depth`` characters."""
    if depth == 1:  # the common case, without the general loop's set of sets
        return {text, *[text[:i] + text[i + 1 :] for i in range(len(text))]}
    found = {text}
    frontier = {text}
    for _ in range(depth):
        frontier = {word[:i] + word[i + 1 :] for word in frontier for i in range(len(word))}
        found |= frontier
    return found


def _one_apart(a: str, b: str) -> bool:
    """One substitution, insertion, deletion or neighbour swap turns ``a`` (!= ``b``) into
    ``b``: the common case (``max_distance: 1``) in one pass instead of the full table."""
    if len(a) < len(b):
        a, b = b, a
    # Skip the common prefix; what follows decides.
    i = 0
    shorter = len(b)
    while i < shorter and a[i] == b[i]:
        i += 1
    if len(a) != len(b):
        return a[i + 1 :] == b[i:]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    return i + 1 < shorter and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
