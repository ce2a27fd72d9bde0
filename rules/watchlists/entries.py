"""The entries of one hotlist, held by column so that a million of them stay compact.

Plates are normalised as ``plate.normalized_text`` is (upper case, no spaces or dashes).
Every other column is kept as its cell's text (or typed, when the header says ``name:type``);
repeated values (a reason, an owner) are stored once and shared. ``EntryTableBuilder``
checks each row and reports problems by row number.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

PLATE_COLUMN = "plate"
# Columns the matcher itself reads; any other column is carried into messages as is.
KNOWN_COLUMNS = ("plate", "reason", "priority", "notify", "expires_at")
# Plates are at most this long: longer text is a mistake (a pasted sentence), not a plate.
MAX_PLATE_LENGTH = 16
WILDCARD_CHARACTERS = frozenset("*?")
_PLATE = re.compile(r"[A-Z0-9]+\Z")
_WILDCARD_PLATE = re.compile(r"[A-Z0-9*?]+\Z")
_RECIPIENT_SEPARATORS = re.compile(r"[;,\s]+")


def normalize_plate(text: str) -> str:
    """As ``plate.normalized_text``: upper case, no spaces or dashes."""
    return text.upper().replace(" ", "").replace("-", "")


def split_recipients(text: str) -> list[str]:
    """The recipients of a ``notify`` cell: separated by ";", "," or spaces."""
    return [part for part in _RECIPIENT_SEPARATORS.split(text.strip()) if part]


def has_wildcard(plate: str) -> bool:
    return "*" in plate or "?" in plate


def parse_expiry(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 date or date-time (naive means UTC); None if invalid."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _date(text: str) -> object:
    if parse_expiry(text) is None:
        raise ValueError(f"expected an ISO 8601 date, got {text!r}")
    return text


def _bool(text: str) -> object:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _number(kind: Callable[[str], object], name: str) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return kind(text.strip())
        except ValueError:
            raise ValueError(f"expected {name}, got {text!r}") from None

    return convert


# Header cells may say ``name:type``; the cell is then converted, and a bad one is an error.
COLUMN_TYPES: dict[str, Callable[[str], object]] = {
    "str": str,
    "int": _number(int, "a whole number"),
    "float": _number(float, "a number"),
    "bool": _bool,
    "date": _date,
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One hotlist entry, as a message shows it: ``{match.entry.reason}`` and so on."""

    plate: str
    columns: Mapping[str, object]
    expires_at: float  # epoch seconds; inf when it never expires

    def template_values(self) -> dict[str, object]:
        values: dict[str, object] = {"plate": self.plate}
        values.update(self.columns)
        return values


@dataclass(frozen=True)
class EntryTable:
    """Entries by position: ``plates[i]``, ``columns[name][i]``, ``expires[i]``."""

    plates: list[str]
    column_names: tuple[str, ...]
    columns: tuple[list[object], ...]
    expires: array[float]
    # plate -> position, for exact lookups and for ``klaxon watchlist stats``.
    positions: dict[str, int]

    def __len__(self) -> int:
        return len(self.plates)

    def entry(self, position: int) -> Entry:
        values = {
            name: column[position]
            for name, column in zip(self.column_names, self.columns, strict=True)
            if column[position] is not None and column[position] != ""
        }
        return Entry(self.plates[position], values, self.expires[position])

    def expired(self, now: float) -> list[Entry]:
        return [self.entry(i) for i, when in enumerate(self.expires) if when <= now]


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based line of the CSV (the header is row 1), or position in ``plates:``
    message: str


class EntryTableBuilder:
    """Adds rows one by one, checking each; ``problems`` names the row of every mistake."""

    def __init__(self, header: Iterable[str], wildcards: bool) -> None:
        self.wildcards = wildcards
        self.problems: list[RowProblem] = []
        names: list[str] = []
        self.converters: list[Callable[[str], object]] = []
        self.header_ok = True
        for cell in header:
            name, _, kind = cell.strip().partition(":")
            converter = COLUMN_TYPES.get(kind.strip() or "str")
            if converter is None:
                self._header_problem(
                    f'column "{cell}": unknown column type "{kind}" '
                    f"(known: {', '.join(COLUMN_TYPES)})"
                )
                converter = str
            if not name.strip():
                self._header_problem("a column has no name")
            if name.strip() in names:
                self._header_problem(f'column "{name.strip()}" appears twice')
            names.append(name.strip())
            self.converters.append(converter)
        if PLATE_COLUMN not in names:
            self._header_problem('the header has no "plate" column')
        self.names = names
        self.plate_at = names.index(PLATE_COLUMN) if PLATE_COLUMN in names else -1
        self.expires_at = names.index("expires_at") if "expires_at" in names else -1
        self.reason_at = names.index("reason") if "reason" in names else -1
        self.other = [i for i in range(len(names)) if i != self.plate_at]
        self.plates: list[str] = []
        self.columns: tuple[list[object], ...] = tuple([] for _ in self.other)
        self.expires: array[float] = array("d")
        self.positions: dict[str, int] = {}
        self.first_row: list[int] = []
        self.wildcard_rows = 0
        # One object per distinct cell value: a million rows share a handful of reasons.
        self._shared: dict[object, object] = {}

    def _header_problem(self, message: str) -> None:
        self.header_ok = False
        self.problems.append(RowProblem(1, message))

    def add(self, row: int, cells: list[str]) -> None:
        if len(cells) != len(self.names):
            self.problems.append(
                RowProblem(row, f"has {len(cells)} cell(s), the header has {len(self.names)}")
            )
            return
        plate = self._plate(row, cells[self.plate_at])
        values: list[object] = []
        failed = plate is None
        for at in self.other:
            text = cells[at]
            if not text.strip():
                values.append(None)
                continue
            try:
                value = self.converters[at](text)
            except ValueError as exc:
                self.problems.append(RowProblem(row, f"{self.names[at]}: {exc}"))
                failed = True
                continue
            values.append(self._shared.setdefault(value, value))
        expires = math.inf
        if self.expires_at >= 0 and cells[self.expires_at].strip():
            parsed = parse_expiry(cells[self.expires_at])
            if parsed is None:
                self.problems.append(
                    RowProblem(
                        row,
                        f"expires_at: expected an ISO 8601 date or date-time "
                        f"(2026-05-01 or 2026-05-01T18:00:00+02:00), "
                        f"got {cells[self.expires_at]!r}",
                    )
                )
                failed = True
            else:
                expires = parsed
        if failed or plate is None:
            return
        earlier = self.positions.get(plate)
        if earlier is not None:
            reason = self._reason(cells)
            if reason != self._reason_of(earlier):
                self.problems.append(
                    RowProblem(
                        row,
                        f"plate {plate} is listed again with a different reason "
                        f"(first at row {self.first_row[earlier]})",
                    )
                )
            return  # the same plate and reason again: the first row stands
        self.positions[plate] = len(self.plates)
        self.first_row.append(row)
        self.plates.append(plate)
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)
        self.expires.append(expires)

    def _reason(self, cells: list[str]) -> str:
        return cells[self.reason_at].strip() if self.reason_at >= 0 else ""

    def _reason_of(self, position: int) -> str:
        if self.reason_at < 0:
            return ""
        value = self.columns[self.other.index(self.reason_at)][position]
        return "" if value is None else str(value).strip()

    def _plate(self, row: int, text: str) -> str | None:
        plate = normalize_plate(text.strip())
        if not plate:
            self.problems.append(RowProblem(row, "plate is empty"))
            return None
        if len(plate) > MAX_PLATE_LENGTH:
            self.problems.append(
                RowProblem(row, f"plate {text!r} is longer than {MAX_PLATE_LENGTH} characters")
            )
            return None
        if has_wildcard(plate):
            if not _WILDCARD_PLATE.match(plate):
                self.problems.append(
                    RowProblem(
                        row, f"plate {text!r} has characters other than letters, digits, * and ?"
                    )
                )
                return None
            if not self.wildcards:
                self.problems.append(
                    RowProblem(
                        row,
                        f"plate {text!r} is a wildcard entry in an exact list "
                        "(set wildcards: true on the list to allow * and ?)",
                    )
                )
                return None
            if plate.strip("*") == "":
                self.problems.append(RowProblem(row, f"plate {text!r} would match every plate"))
                return None
            self.wildcard_rows += 1
        elif not _PLATE.match(plate):
            self.problems.append(
                RowProblem(row, f"plate {text!r} has characters other than letters and digits")
            )
            return None
        return plate

    def build(self) -> EntryTable:
        self.first_row = []
        return EntryTable(
            plates=self.plates,
            column_names=tuple(self.names[at] for at in self.other),
            columns=self.columns,
            expires=self.expires,
            positions=self.positions,
        )
