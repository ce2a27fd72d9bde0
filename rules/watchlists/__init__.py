"""Plate hotlists: CSV or inline lists, OCR-aware matching, ``operator: in_watchlist``.

``entries`` (the rows, by column), ``sources`` (CSV and inline reading), ``confusables``
and ``distance`` (what counts as a misread), ``matcher`` (the index and best match),
``section`` (the ``watchlists:`` config section), ``operator`` (the rule condition and
the match info a message uses). See docs/watchlists.md.
"""

from rules.watchlists.matcher import MatchMode, PlateMatcher, WatchMatch
from rules.watchlists.section import Watchlist, load_watchlists

__all__ = ["MatchMode", "PlateMatcher", "WatchMatch", "Watchlist", "load_watchlists"]
