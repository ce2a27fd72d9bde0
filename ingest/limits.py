"""Limits on one event: its size, its nesting depth, and finite numbers only.

A producer can send anything. These checks turn what would crash or poison a later stage
(recursion through a 5,000-deep array, a NaN that becomes invalid JSON in a webhook body)
into a reason to dead-letter that one message. Depth counts containers: ``{}`` is 1,
``{"a": [1]}`` is 2.

The checks stay off the hot path where they can: JSON nesting can be no deeper than the
number of ``{`` and ``[`` bytes, so the parsed event is walked only when that count is
over the limit; an Avro schema is compiled once into a check that visits only its
float and double fields, and a full walk is needed only for a recursive schema or one
deeper than the limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeGuard, cast

from rules.config import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH


@dataclass(frozen=True)
class EventLimits:
    """How big and how deep one event of a topic may be (``sources:`` in the rules file)."""

    max_depth: int = DEFAULT_MAX_DEPTH
    max_bytes: int = DEFAULT_MAX_BYTES

    def size_problem(self, size: int) -> str | None:
        if size > self.max_bytes:
            return f"message of {size} bytes is over max_bytes ({self.max_bytes})"
        return None


# Where in an event something is wrong: its keys and list indexes from the top.
Path = tuple[object, ...]
# A compiled check of one decoded Avro value: (path, bad number) or None.
_Check = Callable[[object], "tuple[Path, float] | None"]

# A decoded JSON or Avro container, as the walks below see it.
_Container = dict[str, object] | list[object] | tuple[object, ...]

_PATH_SHOWN = 120


def show_path(path: Path) -> str:
    if not path:
        return "the top level"
    text = ".".join(map(str, path))
    return text if len(text) <= _PATH_SHOWN else text[:_PATH_SHOWN] + "..."


def too_deep(max_depth: int, path: Path) -> str:
    return f"nesting deeper than max_depth ({max_depth}) at {show_path(path)}"


def non_finite(value: float, path: Path) -> str:
    return (
        f"non-finite number {value} at {show_path(path)} "
        "(NaN and Infinity are not JSON: such events are rejected)"
    )


def _is_non_finite(value: object) -> TypeGuard[float]:
    return isinstance(value, float) and not math.isfinite(value)


def scan(value: object, max_depth: int, floats: bool = True) -> str | None:
    """Walk ``value`` without recursion: the first container deeper than ``max_depth``, or
    (with ``floats``) the first NaN or infinity, as a problem; None if there is neither."""
    if not isinstance(value, dict | list | tuple):
        return non_finite(value, ()) if floats and _is_non_finite(value) else None
    stack: list[tuple[_Container, int, Path]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > max_depth:
            return too_deep(max_depth, path)
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, dict | list | tuple):
                stack.append((child, depth + 1, (*path, key)))
            elif floats and _is_non_finite(child):
                return non_finite(child, (*path, key))
    return None


def json_problem(raw: bytes, event: object, max_depth: int) -> str | None:
    """The depth problem of a parsed JSON event (its parser already refused NaN)."""
    if raw.count(b"{") + raw.count(b"[") <= max_depth:
        return None  # it cannot nest deeper than it has brackets
    return scan(event, max_depth, floats=False)


# -- Avro: a check compiled from the writer schema ------------------------------------------

_CONTAINERS = frozenset({"record", "error", "array", "map"})
_FLOATS = frozenset({"float", "double"})


@dataclass(frozen=True)
class _Plan:
    """What a schema needs checked: ``check`` is None when it holds no float or double;
    ``depth`` is None when the schema is recursive (unbounded)."""

    check: _Check | None
    depth: int | None


AvroCheck = Callable[[object], "str | None"]


def avro_check(schema: object, max_depth: int) -> AvroCheck | None:
    """A check of records decoded with ``schema``; None when nothing in them can be wrong."""
    named: Mapping[str, object] = (
        schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    )
    plan = _compile(schema, named, frozenset())
    if plan.depth is None or plan.depth > max_depth:
        return lambda record: scan(record, max_depth)
    compiled = plan.check
    if compiled is None:
        return None

    def check(record: object) -> str | None:
        found = compiled(record)
        return None if found is None else non_finite(found[1], found[0])

    return check


def _compile(schema: object, named: Mapping[str, object], active: frozenset[str]) -> _Plan:
    if isinstance(schema, str):
        if schema in _FLOATS:
            return _Plan(_finite, 0)
        if schema in named:
            if schema in active:
                return _Plan(None, None)  # recursive: only a full walk can bound it
            return _compile(named[schema], named, active | {schema})
        return _Plan(None, 0)
    if isinstance(schema, list):  # a union: which branch a value took is not known
        plans = [_compile(branch, named, active) for branch in schema]
        if any(p.depth is None for p in plans):
            return _Plan(None, None)
        floats = any(p.check is not None for p in plans)
        return _Plan(_any_finite if floats else None, max(p.depth or 0 for p in plans))
    if not isinstance(schema, dict):
        return _Plan(None, 0)
    kind = schema.get("type")
    if kind not in _CONTAINERS:  # a primitive spelled as a mapping, maybe a logical type
        return _compile(kind, named, active) if isinstance(kind, str | list) else _Plan(None, 0)
    if kind == "array":
        return _nested(_compile(schema["items"], named, active), _each_item)
    if kind == "map":
        return _nested(_compile(schema["values"], named, active), _each_value)
    inside = active | {schema["name"]} if "name" in schema else active
    fields = [(f["name"], _compile(f["type"], named, inside)) for f in schema["fields"]]
    if any(p.depth is None for _, p in fields):
        return _Plan(None, None)
    depth = 1 + max((p.depth or 0 for _, p in fields), default=0)
    checks = [(name, p.check) for name, p in fields if p.check is not None]
    return _Plan(_record(checks) if checks else None, depth)


def _nested(inner: _Plan, each: Callable[[_Check], _Check]) -> _Plan:
    if inner.depth is None:
        return _Plan(None, None)
    return _Plan(each(inner.check) if inner.check else None, inner.depth + 1)


def _finite(value: object) -> tuple[Path, float] | None:
    return ((), value) if _is_non_finite(value) else None


def _any_finite(value: object) -> tuple[Path, float] | None:
    """A union value: walk it (unions with floats are small: a number or a record)."""
    if _is_non_finite(value):
        return (), value
    if not isinstance(value, dict | list):
        return None
    stack: list[tuple[_Container, Path]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            if isinstance(child, dict | list):
                stack.append((child, (*path, key)))
            elif _is_non_finite(child):
                return (*path, key), child
    return None


def _record(checks: list[tuple[str, _Check]]) -> _Check:
    def check(record: object) -> tuple[Path, float] | None:
        fields = cast(Mapping[str, object], record)  # the compiled schema says: a record
        for name, inner in checks:
            found = inner(fields.get(name))
            if found is not None:
                return (name, *found[0]), found[1]
        return None

    return check


def _each_item(inner: _Check) -> _Check:
    def check(items: object) -> tuple[Path, float] | None:
        # The compiled schema says: an array.
        for index, item in enumerate(cast(Sequence[object], items)):
            found = inner(item)
            if found is not None:
                return (index, *found[0]), found[1]
        return None

    return check


def _each_value(inner: _Check) -> _Check:
    def check(values: object) -> tuple[Path, float] | None:
        # The compiled schema says: a map.
        for key, item in cast(Mapping[str, object], values).items():
            found = inner(item)
            if found is not None:
                return (key, *found[0]), found[1]
        return None

    return check
