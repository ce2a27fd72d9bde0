"""Condition operators, compiled once at load into a predicate over the whole event.

Semantics shared by every operator:

- A path that leads nowhere and a ``None`` value are the same thing, "absent" (Avro's
  optional fields decode to ``None``). An absent field makes every condition false, the
  negative ones (``not_equals``, ``not_in_list``) included, except ``exists: false``.
- A field of the wrong type makes the condition false, never an exception. The negative
  operators hold only for a present scalar (string, number, true/false) that differs:
  a mapping or a list is neither equal nor unequal to a scalar.
- Booleans are not numbers: ``equals: 1`` does not match ``true``, ``greater_than: 0``
  does not match ``true``.
- ``regex`` searches (anchor with ``^`` and ``$``) in RE2 syntax, in time linear in the
  text whatever the pattern (rules/linear_regex.py).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rules.linear_regex import LinearRegex, RegexError, compile_regex
from rules.paths import MISSING, Getter, PathError, compile_path

Predicate = Callable[[object], bool]
Scalar = str | int | float | bool

# Sentinel for "the condition has no value key" (``exists`` may omit it).
NO_VALUE: object = MISSING


class ConditionError(ValueError):
    """Every problem with one condition, as (key, message) with key field/operator/value."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition. ``test(event)`` is the hot-path predicate."""

    field: str
    operator: str
    value: object
    getter: Getter
    # Over the field's value (MISSING when absent): lets the engine read a field once.
    check: Predicate
    # Over the whole event.
    test: Predicate
    # For equals / in_list over strings: the values the field must take, so that the
    # engine can find candidate rules with one dict lookup instead of testing each rule.
    index_values: frozenset[str] | None = None


def show(value: object) -> str:
    """A value as the user wrote it in YAML (JSON spelling: "text", true, null, [1, 2])."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


_SCALAR_EXPECTED = "expected a string, number or true/false"


# -- builders: checked value -> predicate over the field's value ---------------------------
#
# Each predicate receives what the getter found (possibly MISSING) so that the engine can
# read a field once for several rules; ``Condition.test`` composes it with the getter.


def _equals(value: Scalar) -> Predicate:
    if isinstance(value, bool):
        return lambda found: found is value
    if isinstance(value, str):
        return lambda found: found == value
    # A number: equal numbers, but true/false are not 1/0.
    return lambda found: found == value and found is not True and found is not False


_SCALAR_TYPES = frozenset({str, int, float, bool})


def _not_equals(value: Scalar) -> Predicate:
    same = _equals(value)
    return lambda found: found.__class__ in _SCALAR_TYPES and not same(found)


def _in_list(values: frozenset[Scalar]) -> Predicate:
    """``found in values`` that never raises and keeps booleans apart from numbers."""
    if all(isinstance(item, str) for item in values):
        return lambda found: isinstance(found, str) and found in values
    has_bools = any(isinstance(item, bool) for item in values)

    def in_list(found: object) -> bool:
        try:
            hit = found in values
        except TypeError:  # unhashable: a mapping or a list
            return False
        # True == 1 and hash(True) == hash(1): a hit across the two is not a hit.
        if hit and (isinstance(found, bool) or (has_bools and _is_number(found))):
            return any(
                item == found and isinstance(item, bool) == isinstance(found, bool)
                for item in values
            )
        return hit

    return in_list


def _not_in_list(values: frozenset[Scalar]) -> Predicate:
    member = _in_list(values)

    return lambda found: found.__class__ in _SCALAR_TYPES and not member(found)


def _contains(value: Scalar) -> Predicate:
    def contains(found: object) -> bool:
        if isinstance(found, str):
            return isinstance(value, str) and value in found
        if isinstance(found, list | tuple):
            if isinstance(value, str):
                return value in found
            return any(
                item == value and isinstance(item, bool) == isinstance(value, bool)
                for item in found
            )
        return False

    return contains


def _regex(pattern: LinearRegex) -> Predicate:
    search = pattern.search
    return lambda found: isinstance(found, str) and search(found)


# Comparisons accept exactly int and float: not bool, not numeric strings.


def _greater_than(limit: float) -> Predicate:
    def greater_than(found: Any) -> bool:
        cls = found.__class__
        return (cls is int or cls is float) and found > limit

    return greater_than


def _less_than(limit: float) -> Predicate:
    def less_than(found: Any) -> bool:
        cls = found.__class__
        return (cls is int or cls is float) and found < limit

    return less_than


def _greater_or_equal(limit: float) -> Predicate:
    def greater_or_equal(found: Any) -> bool:
        cls = found.__class__
        return (cls is int or cls is float) and found >= limit

    return greater_or_equal


def _less_or_equal(limit: float) -> Predicate:
    def less_or_equal(found: Any) -> bool:
        cls = found.__class__
        return (cls is int or cls is float) and found <= limit

    return less_or_equal


def _exists(wanted: bool) -> Predicate:
    if wanted:
        return lambda found: found is not MISSING and found is not None
    return lambda found: found is MISSING or found is None


def _on_event(get: Getter, check: Predicate) -> Predicate:
    """The predicate over a whole event: read the field, check it."""
    return lambda event: check(get(event))


# -- value checks: raw YAML value -> (checked value, problems) ---------------------------


def _check_scalar(value: object) -> tuple[object, list[tuple[str, str]]]:
    if value is None:
        return None, [
            ("value", f"{_SCALAR_EXPECTED}, got null (use exists: false for a missing field)")
        ]
    if isinstance(value, list | dict):
        return None, [
            ("value", f"{_SCALAR_EXPECTED}, got {show(value)} (use in_list for several values)")
        ]
    if not _is_scalar(value):
        return None, [("value", f"{_SCALAR_EXPECTED}, got {show(value)}")]
    return value, []


def _check_list(value: object) -> tuple[object, list[tuple[str, str]]]:
    if not isinstance(value, list):
        return None, [("value", f"expected a list of values, got {show(value)}")]
    if not value:
        return None, [("value", "must list at least one value")]
    problems = [
        (f"value[{i}]", f"{_SCALAR_EXPECTED}, got {show(item)}")
        for i, item in enumerate(value)
        if not _is_scalar(item)
    ]
    return (None if problems else frozenset(value)), problems


# RE2 is linear-time because it leaves out what needs backtracking; say so in each refusal.
_REGEX_HINT = "RE2 syntax: no backreferences or lookaround; see docs/rules.md"


def _check_regex(value: object) -> tuple[object, list[tuple[str, str]]]:
    if not isinstance(value, str):
        return None, [("value", f"expected a string (a regular expression), got {show(value)}")]
    try:
        return compile_regex(value), []
    except RegexError as exc:
        return None, [("value", f"invalid regex {show(value)}: {exc} ({_REGEX_HINT})")]


def _check_number(value: object) -> tuple[object, list[tuple[str, str]]]:
    if not _is_number(value):
        return None, [("value", f"expected a number, got {show(value)}")]
    return value, []


def _check_bool(value: object) -> tuple[object, list[tuple[str, str]]]:
    if value is NO_VALUE:
        return True, []
    if not isinstance(value, bool):
        return None, [("value", f"expected true or false, got {show(value)}")]
    return value, []


@dataclass(frozen=True, slots=True)
class Operator:
    """How to check an operator's YAML value and build its predicate from the result."""

    check: Callable[[object], tuple[object, list[tuple[str, str]]]]
    build: Callable[[Any], Predicate]
    value_optional: bool = False


OPERATORS: dict[str, Operator] = {
    "equals": Operator(_check_scalar, _equals),
    "not_equals": Operator(_check_scalar, _not_equals),
    "contains": Operator(_check_scalar, _contains),
    "regex": Operator(_check_regex, _regex),
    "in_list": Operator(_check_list, _in_list),
    "not_in_list": Operator(_check_list, _not_in_list),
    "greater_than": Operator(_check_number, _greater_than),
    "less_than": Operator(_check_number, _less_than),
    "greater_or_equal": Operator(_check_number, _greater_or_equal),
    "less_or_equal": Operator(_check_number, _less_or_equal),
    "exists": Operator(_check_bool, _exists, value_optional=True),
}


def unknown_choice(kind: str, name: str, known: list[str]) -> str:
    """``unknown <kind> "x" (did you mean "y"?)`` or ``(known: a, b, c)``."""
    hint = difflib.get_close_matches(name, known, n=1)
    if hint:
        return f'unknown {kind} "{name}" (did you mean "{hint[0]}"?)'
    return f'unknown {kind} "{name}" (known: {", ".join(known)})'


def _index_values(operator: str, value: object) -> frozenset[str] | None:
    if operator == "equals" and isinstance(value, str):
        return frozenset((value,))
    if (
        operator == "in_list"
        and isinstance(value, frozenset)
        and all(isinstance(item, str) for item in value)
    ):
        return value
    return None


def compile_condition(field: str, operator: str, value: object = NO_VALUE) -> Condition:
    """Compile one condition; raise ConditionError listing every problem with it."""
    problems: list[tuple[str, str]] = []
    get: Getter | None = None
    try:
        get = compile_path(field)
    except PathError as exc:
        problems.append(("field", str(exc)))
    spec = OPERATORS.get(operator)
    if spec is None:
        problems.append(("operator", unknown_choice("operator", operator, list(OPERATORS))))
        raise ConditionError(problems)
    if value is NO_VALUE and not spec.value_optional:
        problems.append(("value", "is required"))
        raise ConditionError(problems)
    checked, value_problems = spec.check(value)
    problems.extend(value_problems)
    if problems or get is None:
        raise ConditionError(problems)
    check = spec.build(checked)
    return Condition(
        field=field,
        operator=operator,
        value=checked,
        getter=get,
        check=check,
        test=_on_event(get, check),
        index_values=_index_values(operator, checked),
    )
