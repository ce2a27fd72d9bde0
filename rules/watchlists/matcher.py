"""Find the best hotlist entry for a plate read without scanning the list.

Three structures, built once per load:

- exact: the table's ``positions`` dict (plate -> entry);
- fuzzy (confusables and/or ``max_distance``): every entry's canonical form (see
  ``confusables``) and each string made from it by deleting up to ``max_distance``
  characters (symmetric delete, as SymSpell), filed by 64-bit hash in one sorted numpy
  array, behind a bit filter. A read looks up its own canonical deletions: any entry
  within the distance (or equal up to confusables) shares at least one, and each candidate
  is then verified on the real text. Most probes miss and stop at the filter in plain
  Python. ~16 bytes per key: a million 7-character plates with distance 1 take ~120 MiB;
- wildcards: a small list (``MAX_WILDCARDS``) tried through one combined regex first.

The best match wins: exact, then confusable (fewest confusable characters), then edit
distance (smallest), then wildcard; across candidate reads, the best of all, the first
read on a tie. Expired entries (``expires_at`` passed by the injected clock) never match.
"""

from __future__ import annotations

import re
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rules.watchlists.confusables import ConfusableTable
from rules.watchlists.distance import deletions, edit_distance
from rules.watchlists.entries import Entry, EntryTable, has_wildcard, normalize_plate

# Wildcard entries are tried one by one after a combined regex says one of them fits:
# kept small so that a read costs one regex search, not thousands.
MAX_WILDCARDS = 500

EXACT, CONFUSABLE, DISTANCE, WILDCARD = "exact", "confusable", "distance", "wildcard"
_RANK = {EXACT: 0, CONFUSABLE: 1, DISTANCE: 2, WILDCARD: 3}


@dataclass(frozen=True)
class MatchMode:
    """How a list matches: exact unless confusables, a distance or wildcards are set."""

    confusables: ConfusableTable | None = None
    # At most this many characters may differ within confusable classes.
    max_confusable: int = 1
    max_distance: int = 0
    wildcards: bool = False

    @property
    def fuzzy(self) -> bool:
        return self.confusables is not None or self.max_distance > 0


@dataclass(frozen=True, slots=True)
class WatchMatch:
    """How a read matched an entry: what ``{match.*}`` shows in a message."""

    list_name: str
    kind: str  # exact, confusable, distance or wildcard
    distance: int  # 0 for exact and wildcard; differing characters for the others
    read: str
    entry: Entry

    @property
    def rank(self) -> tuple[int, int]:
        return (_RANK[self.kind], self.distance)

    def template_values(self) -> dict[str, object]:
        return {
            "list": self.list_name,
            "kind": self.kind,
            "distance": self.distance,
            "read": self.read,
            "entry": self.entry.template_values(),
        }


class HashIndex:
    """64-bit string hashes -> entry positions, behind a bit filter.

    Most probes miss, so each is first checked in a bit array (two bits per key, ~4 bytes
    per key): a miss costs a byte lookup or two in plain Python. Only a probe that passes
    goes to the sorted numpy arrays (``searchsorted`` on one scalar). The first version
    sent every probe through numpy, whose per-call cost made the fuzzy lookup slow (see
    docs/performance.md).
    """

    def __init__(self, words_by_position: Iterable[tuple[int, Iterable[str]]]) -> None:
        hashes: array[int] = array("q")
        owners: array[int] = array("i")
        for position, words in words_by_position:
            before = len(hashes)
            hashes.extend(map(hash, words))
            owners.extend([position] * (len(hashes) - before))
        # Sorted one array at a time, dropping each unsorted one as soon as it is copied,
        # so that a load's peak stays near twice the index, not four times.
        order = np.argsort(np.frombuffer(hashes, dtype=np.int64), kind="stable")
        self.keys: npt.NDArray[np.int64] = np.frombuffer(hashes, dtype=np.int64)[order]
        del hashes
        self.positions: npt.NDArray[np.int32] = np.frombuffer(owners, dtype=np.int32)[order]
        del owners, order
        # At least 32 bits per key, a power of two (for masking) and at most 2**32 (so the
        # high spot reads the same bits of a negative hash in Python as in numpy): with two
        # bits set per key, a probe for an absent key passes ~0.3% of the time. (Both bits
        # in one byte, to save a cache miss, let ~2% through: slower overall.)
        size = 1 << min(32, max(16, (len(self.keys) * 32 - 1).bit_length()))
        self._mask = size - 1
        self._bits = _bit_filter(self.keys.view(np.uint64), self._mask)
        self.nbytes = int(self.keys.nbytes + self.positions.nbytes + len(self._bits))

    def lookup(self, words: Iterable[str]) -> set[int]:
        """The positions filed under any of ``words``."""
        found: set[int] = set()
        bits, mask = self._bits, self._mask
        for word in words:
            key = hash(word)
            spot = key & mask
            if bits[spot >> 3] >> (spot & 7) & 1:
                spot = key >> 32 & mask
                if bits[spot >> 3] >> (spot & 7) & 1:
                    found.update(self._positions_of(key))
        return found

    def _positions_of(self, key: int) -> list[int]:
        keys = self.keys
        start = end = int(keys.searchsorted(key))
        while end < len(keys) and keys[end] == key:
            end += 1
        found: list[int] = self.positions[start:end].tolist()
        return found


# Keys are set in the bit filter this many at a time, to bound the temporary arrays.
_FILTER_CHUNK = 1 << 20


def _bit_filter(keys: npt.NDArray[np.uint64], mask: int) -> bytearray:
    """Bit ``key & mask`` and bit ``(key >> 32) & mask`` set for every key."""
    bits = bytearray((mask + 1) // 8)
    view = np.frombuffer(bits, dtype=np.uint8)
    wide_mask = np.uint64(mask)
    for start in range(0, len(keys), _FILTER_CHUNK):
        chunk = keys[start : start + _FILTER_CHUNK]
        for spots in (chunk & wide_mask, (chunk >> np.uint64(32)) & wide_mask):
            low = (spots & np.uint64(7)).astype(np.uint8)
            for bit in range(8):
                # Repeated indices write the same value, so fancy assignment is an OR.
                view[spots[low == bit] >> np.uint64(3)] |= np.uint8(1 << bit)
    del view
    return bits


def reads_of(found: object) -> list[str]:
    """The reads to try: a text, a list of texts or ``{text, confidence}`` candidates, or
    a plate record (``normalized_text`` or ``text``, then its ``candidates``)."""
    if isinstance(found, str):
        return [normalize_plate(found)] if found else []
    reads: list[str] = []
    items: object = found
    if isinstance(found, dict):
        main = found.get("normalized_text", found.get("text"))
        if isinstance(main, str) and main:
            reads.append(normalize_plate(main))
        items = found.get("candidates")
    if isinstance(items, list | tuple):
        for item in items:
            text = item.get("text") if isinstance(item, dict) else item
            if isinstance(text, str) and text:
                read = normalize_plate(text)
                if read not in reads:
                    reads.append(read)
    return reads


class PlateMatcher:
    def __init__(
        self,
        name: str,
        table: EntryTable,
        mode: MatchMode,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.table = table
        self.mode = mode
        self.clock = clock
        self._canonical = mode.confusables.canonical if mode.confusables else _same
        self._exact = table.positions
        wild = [i for i, plate in enumerate(table.plates) if has_wildcard(plate)]
        if len(wild) > MAX_WILDCARDS:
            raise ValueError(
                f"{len(wild)} wildcard entries: at most {MAX_WILDCARDS} per list "
                "(each read is tried against every one of them)"
            )
        self._wildcards = [(_wildcard_regex(table.plates[i]), i) for i in wild]
        self._any_wildcard = (
            re.compile("|".join(f"(?:{rx.pattern})" for rx, _ in self._wildcards))
            if self._wildcards
            else None
        )
        self._index = self._build_index(set(wild)) if mode.fuzzy else None

    def _build_index(self, skip: set[int]) -> HashIndex:
        canonical, depth = self._canonical, self.mode.max_distance
        return HashIndex(
            (position, deletions(canonical(plate), depth) if depth else (canonical(plate),))
            for position, plate in enumerate(self.table.plates)
            if position not in skip
        )

    @property
    def index_bytes(self) -> int:
        return self._index.nbytes if self._index is not None else 0

    def __call__(self, found: object) -> bool:
        """The condition's check: does any read of ``found`` match a live entry?"""
        return self.best(found) is not None

    def best(self, found: object) -> WatchMatch | None:
        best: WatchMatch | None = None
        for read in reads_of(found):
            match = self._best_for(read)
            if match is not None and (best is None or match.rank < best.rank):
                best = match
                if match.kind == EXACT:
                    break
        return best

    def _best_for(self, read: str) -> WatchMatch | None:
        now: float | None = None
        expires = self.table.expires
        position = self._exact.get(read)
        if position is not None:
            now = self.clock()
            if expires[position] > now:
                return self._match(EXACT, 0, read, position)
        best: tuple[tuple[int, int], int] | None = None
        if self._index is not None:
            for position in self._index.lookup(self._query(read)):
                rank = self._verify(read, self.table.plates[position])
                if rank is None or (best is not None and rank >= best[0]):
                    continue
                if now is None:
                    now = self.clock()
                if expires[position] > now:
                    best = (rank, position)
        if best is None and self._any_wildcard is not None and self._any_wildcard.fullmatch(read):
            now = self.clock() if now is None else now
            for pattern, position in self._wildcards:
                if expires[position] > now and pattern.fullmatch(read):
                    return self._match(WILDCARD, 0, read, position)
        if best is None:
            return None
        (kind, distance), position = best
        return self._match(_KINDS[kind], distance, read, position)

    def _query(self, read: str) -> set[str]:
        depth = self.mode.max_distance
        canonical = self._canonical(read)
        return deletions(canonical, depth) if depth else {canonical}

    def _verify(self, read: str, plate: str) -> tuple[int, int] | None:
        """(rank of kind, distance) of ``read`` against ``plate``, or None if no match."""
        if read == plate:
            return (0, 0)
        table = self.mode.confusables
        if table is not None:
            count = table.differences(read, plate)
            if count is not None and count <= self.mode.max_confusable:
                return (1, count)
        limit = self.mode.max_distance
        if limit:
            distance = edit_distance(read, plate, limit)
            if distance <= limit:
                return (2, distance)
        return None

    def _match(self, kind: str, distance: int, read: str, position: int) -> WatchMatch:
        return WatchMatch(self.name, kind, distance, read, self.table.entry(position))


_KINDS = {rank: kind for kind, rank in _RANK.items()}


def _same(text: str) -> str:
    return text


def _wildcard_regex(plate: str) -> re.Pattern[str]:
    """``7GX*`` -> ``7GX.*``; ``AB?123`` -> ``AB.123`` (entries hold only A-Z, 0-9, * and ?)."""
    return re.compile(plate.replace("*", ".*").replace("?", "."))
