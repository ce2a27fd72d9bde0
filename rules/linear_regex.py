"""Rule regexes compiled by RE2: a search takes time linear in the text, whatever the pattern.

Python's ``re`` backtracks: ``(a+)+$`` against forty a's and a b runs for hours while
holding the GIL, so one plate stalls the bridge, its health endpoint included. RE2 (the
engine behind Prometheus' and Alertmanager's matchers) never backtracks; the price is that
it refuses backreferences and lookaround, which a rule then reports as a config error.

We call the compiled core of google-re2 (``re2._re2.RE2``), not its ``re``-like wrapper:

- the core has no way to hand a pattern to Python's ``re``: a pattern RE2 refuses is an
  error, never quietly run by a backtracking engine. (google-re2's wrapper does not fall
  back either, but other RE2 bindings such as pyre2 did; a test pins this down.)
- a rule only asks "is there a match": the core answers in ~1 us, where the wrapper's
  ``search`` builds a match object and character offsets in ~7 us.
"""

from __future__ import annotations

from dataclasses import dataclass

import re2
from re2 import _re2

# RE2 refuses a pattern whose compiled program would need more than this (its default):
# "pattern too large - compile failed". Also bounds the DFA cache used while matching.
MAX_MEMORY_BYTES = 8 << 20

_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_NO_MATCH = (-1, -1)


class RegexError(ValueError):
    """RE2 cannot run the pattern; the message is RE2's reason ("missing ]: [")."""


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_MEMORY_BYTES
    # Only "does it match" is asked, so capture groups are dead weight.
    options.never_capture = True
    # RE2 would also print every refused pattern to stderr; the caller reports it.
    options.log_errors = False
    return options


def _utf8(text: str) -> bytes:
    # A JSON event may carry a lone surrogate ("\ud800"); strict UTF-8 would raise. RE2
    # treats the resulting invalid bytes as matching no character.
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class LinearRegex:
    """A compiled pattern; ``search(text)`` says whether it matches anywhere in ``text``."""

    pattern: str
    _core: _re2.RE2

    def search(self, text: str) -> bool:
        data = _utf8(text)
        spans: list[tuple[int, int]] = self._core.Match(_UNANCHORED, data, 0, len(data))
        return spans[0] != _NO_MATCH


def compile_regex(pattern: str) -> LinearRegex:
    """``pattern`` compiled by RE2; raise RegexError with RE2's reason if it cannot run it."""
    core = _re2.RE2(_utf8(pattern), _options())
    if not core.ok():
        reason: bytes = core.error()
        raise RegexError(reason.decode("utf-8", "replace"))
    return LinearRegex(pattern, core)


class RegexSet:
    """Several patterns searched in one pass: ``matching(text)`` gives the indexes that match.

    RE2 runs all the patterns of a set as one automaton, so ten rules' regexes on one field
    cost one ~2 us call an event instead of ten searches of ~1.3 us each.
    """

    def __init__(self, patterns: list[LinearRegex]) -> None:
        self.patterns = tuple(patterns)
        self._set = _re2.Set(_UNANCHORED, _options())
        for pattern in patterns:
            if self._set.Add(_utf8(pattern.pattern)) < 0:  # compiled alone, so never expected
                raise RegexError(f"cannot add {pattern.pattern!r} to a regex set")
        if not self._set.Compile():
            raise RegexError("regex set too large to compile")

    def matching(self, text: str) -> list[int]:
        """The indexes (in ``patterns``, ascending) of the patterns found in ``text``."""
        indexes: list[int] = self._set.Match(_utf8(text))
        return sorted(indexes) if len(indexes) > 1 else indexes
