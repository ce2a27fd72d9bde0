"""Read a hotlist from a CSV file (header row first) or from an inline ``plates:`` list."""

from __future__ import annotations

import csv
from pathlib import Path

from rules.watchlists.entries import EntryTable, EntryTableBuilder, RowProblem

# A file with more broken rows than this is reported by its first ones and a count.
MAX_REPORTED_ROWS = 50


def read_csv(path: Path, wildcards: bool) -> tuple[EntryTable | None, list[RowProblem]]:
    """The entries of the CSV at ``path``, or None with the row of every problem."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        return None, [RowProblem(0, f"cannot read the file: {exc.strerror or exc}")]
    with handle:
        try:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return None, [RowProblem(1, 'the file is empty: expected a header with "plate"')]
            builder = EntryTableBuilder(header, wildcards)
            if not builder.header_ok:
                return None, builder.problems
            for cells in reader:
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # a blank line
                builder.add(reader.line_num, cells)
        except UnicodeDecodeError as exc:
            return None, [RowProblem(0, f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
        except csv.Error as exc:
            return None, [RowProblem(reader.line_num, f"malformed CSV: {exc}")]
    if builder.problems:
        return None, builder.problems
    return builder.build(), []


def read_inline(items: list[object], wildcards: bool) -> tuple[EntryTable | None, list[RowProblem]]:
    """Entries from ``plates: [ABC123, {plate: XYZ9, reason: stolen}]``; row = position."""
    names = ["plate"]
    for item in items:
        if isinstance(item, dict):
            names.extend(str(key) for key in item if str(key) not in names)
    builder = EntryTableBuilder(names, wildcards)
    problems: list[RowProblem] = []
    for position, item in enumerate(items):
        if isinstance(item, str | int) and not isinstance(item, bool):
            cells = [str(item)] + [""] * (len(names) - 1)
        elif isinstance(item, dict) and "plate" in item:
            cells = ["" if item.get(name) is None else str(item.get(name)) for name in names]
        else:
            problems.append(RowProblem(position, 'expected a plate or a mapping with "plate"'))
            continue
        builder.add(position, cells)
    problems.extend(builder.problems)
    if problems:
        return None, problems
    return builder.build(), []
