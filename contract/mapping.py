"""Typed reading of one YAML mapping, recording problems instead of raising.

Rules and channel settings are plain YAML mappings. ``MappingReader`` reads each field
with its expected type, remembers which keys were read, and reports the rest as unknown
keys with a "did you mean" hint, so that a typo like ``cooldown_second`` is caught.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TypeVar, cast

from contract.problems import ProblemSink

T = TypeVar("T")

_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping",
}


def type_name(expected: type | tuple[type, ...]) -> str:
    if isinstance(expected, tuple):
        return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in expected)
    return _TYPE_NAMES.get(expected, expected.__name__)


def _matches(value: object, expected: type | tuple[type, ...]) -> bool:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    for kind in kinds:
        # YAML's true/false are ints to Python; a number field must not accept them.
        if kind in (int, float) and isinstance(value, bool):
            continue
        if kind is float and isinstance(value, int):
            return True
        if isinstance(value, kind):
            return True
    return False


class MappingReader:
    """Reads fields of ``data`` found at ``path``; call ``finish()`` to report unknown keys."""

    def __init__(
        self,
        data: Mapping[str, object],
        path: str,
        sink: ProblemSink,
        rule_id: str | None = None,
    ) -> None:
        self.data = data
        self.path = path
        self.sink = sink
        self.rule_id = rule_id
        self._known: set[str] = set()

    def field_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> None:
        self.sink.error(self.field_path(key), message, self.rule_id)

    def warn(self, key: str, message: str) -> None:
        self.sink.warn(self.field_path(key), message, self.rule_id)

    def has(self, key: str) -> bool:
        self._known.add(key)
        return key in self.data

    def raw(self, key: str) -> object:
        self._known.add(key)
        return self.data.get(key)

    def optional(self, key: str, expected: type[T] | tuple[type, ...], default: T) -> T:
        """The value at ``key`` if present and of the expected type, else ``default``."""
        self._known.add(key)
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if not _matches(value, expected):
            self.error(key, f"expected {type_name(expected)}, got {value!r}")
            return default
        if expected is float and isinstance(value, int):
            return cast(T, float(value))  # T is float here
        return cast(T, value)  # checked against T by _matches

    def required(self, key: str, expected: type[T] | tuple[type, ...], default: T) -> T:
        """Like ``optional`` but a missing key is an error; ``default`` keeps reading going."""
        self._known.add(key)
        if key not in self.data or self.data[key] is None:
            self.error(key, "is required")
            return default
        return self.optional(key, expected, default)

    def mapping(self, key: str) -> Mapping[str, object]:
        return self.optional(key, dict, {})

    def finish(self) -> None:
        for key in self.data:
            if key in self._known:
                continue
            if not isinstance(key, str):
                self.sink.error(self.path or "<top>", f"key {key!r} is not a string", self.rule_id)
                continue
            hint = difflib.get_close_matches(key, sorted(self._known), n=1)
            suffix = f' (did you mean "{hint[0]}"?)' if hint else ""
            self.error(key, f"unknown key{suffix}")
