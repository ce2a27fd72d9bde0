"""Pages of the history: a page size, the next page's link, and a readable bad cursor."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

from history.queries import CursorError
from klaxon.console.guard import Refused

PAGE_SIZE = 50
T = TypeVar("T")


@dataclass(frozen=True)
class Pager:
    """Links to the first (newest) page, when not on it, and to the next; None if none."""

    first: str | None
    next: str | None


def pager(path: str, filters: Mapping[str, str], cursor: str, next_cursor: str | None) -> Pager:
    kept = {name: value for name, value in filters.items() if value}
    first = f"{path}?{urlencode(kept)}" if kept else path
    return Pager(
        first=first if cursor else None,
        next=None
        if next_cursor is None
        else f"{path}?{urlencode({**kept, 'cursor': next_cursor})}",
    )


def read_page(read: Callable[[], T]) -> T:
    """``read()``, with a cursor the history did not hand out answered as a readable 400."""
    try:
        return read()
    except CursorError as exc:
        raise Refused(400, "Bad page link", f"{exc}: start again from the first page.") from None
