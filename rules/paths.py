"""Dot paths into nested events: parsed once at load, read with a prebuilt getter.

``plate.normalized_text`` names ``event["plate"]["normalized_text"]``; a numeric segment
after the first (``candidates.0.text``) indexes a list, or looks up the key ``"0"`` in a
mapping. A getter never raises: a path that leads nowhere returns ``MISSING``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, Protocol, cast, final

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INDEX = re.compile(r"[0-9]+\Z")

# What indexing a decoded event can raise when the path does not fit the data.
_LOOKUP_ERRORS: Final = (KeyError, IndexError, TypeError)


@final
class _Missing:
    """The type of ``MISSING``: what a getter returns when the path leads nowhere."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

Getter = Callable[[object], object]


class _Indexable(Protocol):
    """What the specialised getters index; any other object raises one of _LOOKUP_ERRORS."""

    def __getitem__(self, key: str | int, /) -> _Indexable: ...


class PathError(ValueError):
    """A field path that is not a dot-separated list of names."""


def parse_path(text: str) -> tuple[str | int, ...]:
    """Split ``text`` into keys (str) and list indexes (int); raise PathError if malformed."""
    segments = text.split(".")
    keys: list[str | int] = []
    for position, segment in enumerate(segments):
        if _NAME.match(segment):
            if segment.startswith("__") and segment.endswith("__"):
                raise PathError(f'invalid field path "{text}": "{segment}" is a reserved name')
            keys.append(segment)
        elif position > 0 and _INDEX.match(segment):
            keys.append(int(segment))
        else:
            raise PathError(
                f'invalid field path "{text}": expected names separated by dots, '
                "like plate.normalized_text"
            )
    return tuple(keys)


def _step(container: object, key: str | int) -> object:
    """One lookup that tolerates a numeric segment on both lists and mappings."""
    if isinstance(key, int):
        if isinstance(container, list | tuple):
            return container[key] if key < len(container) else MISSING
        key = str(key)
    if isinstance(container, dict):
        return container.get(key, MISSING)
    return MISSING


def compile_path(text: str) -> Getter:
    """A getter for ``text``; specialised closures keep the common paths to one try block."""
    keys = parse_path(text)
    if all(isinstance(key, str) for key in keys):
        return _string_getter(keys)

    def get_mixed(event: object) -> object:
        value = event
        for key in keys:
            value = _step(value, key)
            if value is MISSING:
                break
        return value

    return get_mixed


def _string_getter(keys: tuple[str | int, ...]) -> Getter:
    # Indexing a str or list with a str key raises TypeError, a None raises TypeError, a
    # dict without the key raises KeyError: all of them mean "not there".
    if len(keys) == 1:
        (k0,) = keys

        def get1(event: _Indexable) -> object:
            try:
                return event[k0]
            except _LOOKUP_ERRORS:
                return MISSING

        # Takes any object: the except is the check that it was indexable.
        return cast(Getter, get1)
    if len(keys) == 2:
        k0, k1 = keys

        def get2(event: _Indexable) -> object:
            try:
                return event[k0][k1]
            except _LOOKUP_ERRORS:
                return MISSING

        # Takes any object: the except is the check that it was indexable.
        return cast(Getter, get2)
    if len(keys) == 3:
        k0, k1, k2 = keys

        def get3(event: _Indexable) -> object:
            try:
                return event[k0][k1][k2]
            except _LOOKUP_ERRORS:
                return MISSING

        # Takes any object: the except is the check that it was indexable.
        return cast(Getter, get3)

    def get_n(event: _Indexable) -> object:
        value = event
        try:
            for key in keys:
                value = value[key]
        except _LOOKUP_ERRORS:
            return MISSING
        return value

    return cast(Getter, get_n)  # as above
