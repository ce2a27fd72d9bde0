"""The ``watchlists:`` section of a rules file: named hotlists, each with its match mode.

    watchlists:
      stolen_vehicles:
        file: hotlists/stolen.csv     # or plates: [ABC123, {plate: XYZ9, reason: stolen}]
        confusables: true             # or {classes: ["O0DQ", "I1L"], max_characters: 2}
        max_distance: 1               # 0 (default), 1 or 2
        wildcards: false              # allow * and ? in entries

Every problem names the list and the key, and a row of a file names its row number.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.mapping import MappingReader
from contract.problems import ProblemSink
from rules.watchlists.confusables import DEFAULT_CLASSES, ConfusableClassError, ConfusableTable
from rules.watchlists.entries import EntryTable, RowProblem
from rules.watchlists.matcher import MatchMode, PlateMatcher
from rules.watchlists.sources import MAX_REPORTED_ROWS, read_csv, read_inline

SECTION = "watchlists"
MAX_DISTANCES = (0, 1, 2)


@dataclass(frozen=True, eq=False)
class Watchlist:
    name: str
    matcher: PlateMatcher
    # The CSV it was read from (watched for changes by the bridge), None when inline.
    file: Path | None = None

    @property
    def table(self) -> EntryTable:
        return self.matcher.table


class Watchlists(dict[str, Watchlist]):
    """The loaded lists by name; ``broken`` names those left out for their errors."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[str] = set()


def load_watchlists(
    section: Mapping[str, Any],
    sink: ProblemSink,
    base: Path,
    clock: Callable[[], float] = time.time,
) -> Watchlists:
    """Every list of the section; problems go to ``sink`` (``watchlists.NAME.key``)."""
    result = Watchlists()
    for name, raw in section.items():
        where = f"{SECTION}.{name}"
        if not isinstance(raw, dict):
            sink.error(where, "expected a mapping with file or plates")
            result.broken.add(str(name))
            continue
        reader = MappingReader(raw, where, sink)
        watchlist = _load_one(str(name), reader, base, clock)
        reader.finish()
        if watchlist is not None:
            result[str(name)] = watchlist
        else:
            result.broken.add(str(name))
    return result


def _load_one(
    name: str, reader: MappingReader, base: Path, clock: Callable[[], float]
) -> Watchlist | None:
    mode = _mode(reader)
    file_text = reader.optional("file", str, "")
    plates = reader.optional("plates", list, [])
    if reader.has("file") == reader.has("plates"):
        reader.sink.error(reader.path, "needs either file (a CSV) or plates (a list), not both")
        return None
    if mode is None:
        return None
    file: Path | None = None
    if file_text:
        file = Path(file_text)
        if not file.is_absolute():
            file = base / file
        table, problems = read_csv(file, mode.wildcards)
        key = "file"
    else:
        table, problems = read_inline(plates, mode.wildcards)
        key = "plates"
    for problem in problems[:MAX_REPORTED_ROWS]:
        reader.error(key, _describe(problem, file))
    if len(problems) > MAX_REPORTED_ROWS:
        reader.error(key, f"... and {len(problems) - MAX_REPORTED_ROWS} more broken row(s)")
    if table is None:
        return None
    if not len(table):
        reader.warn(key, "the list is empty: it matches nothing")
    try:
        matcher = PlateMatcher(name, table, mode, clock)
    except ValueError as exc:
        reader.error(key, str(exc))
        return None
    return Watchlist(name, matcher, file)


def _describe(problem: RowProblem, file: Path | None) -> str:
    if file is None:
        return f"[{problem.row}]: {problem.message}"
    if problem.row == 0:
        return f"{file}: {problem.message}"
    return f"{file} row {problem.row}: {problem.message}"


def _mode(reader: MappingReader) -> MatchMode | None:
    ok = True
    max_distance = reader.optional("max_distance", int, 0)
    if reader.has("max_distance") and max_distance not in MAX_DISTANCES:
        reader.error("max_distance", f"expected 0, 1 or 2, got {max_distance}")
        ok = False
    wildcards = reader.optional("wildcards", bool, False)
    table: ConfusableTable | None = None
    max_confusable = 1
    raw = reader.raw("confusables")
    if raw is True:
        table = ConfusableTable()
    elif isinstance(raw, dict):
        options = MappingReader(raw, reader.field_path("confusables"), reader.sink)
        classes = options.optional("classes", list, list(DEFAULT_CLASSES))
        max_confusable = options.optional("max_characters", int, 1)
        if max_confusable < 1:
            options.error("max_characters", f"must be at least 1, got {max_confusable}")
            ok = False
        if not all(isinstance(item, str) for item in classes):
            options.error("classes", 'expected strings of confusable characters, e.g. "O0DQ"')
            ok = False
        else:
            try:
                table = ConfusableTable(tuple(classes))
            except ConfusableClassError as exc:
                options.error("classes", str(exc))
                ok = False
        options.finish()
    elif raw is not None and raw is not False:
        reader.error("confusables", "expected true, false or a mapping with classes")
        ok = False
    reader.has("confusables")
    if not ok:
        return None
    return MatchMode(table, max_confusable, max_distance, wildcards)
