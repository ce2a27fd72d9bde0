"""Condition operators: semantics and load-time checks."""

from __future__ import annotations

import json
import re
import time

import pytest

from rules.operators import OPERATORS, ConditionError, compile_condition

EVENT: dict[str, object] = {
    "plate": {"normalized_text": "ABC123", "confidence": 0.92, "region": None},
    "camera_id": "cam-1",
    "tags": ["night", "ir", 3],
    "speed": 72,
    "flagged": True,
    "meta": {"k": "v"},
}


def matches(field: str, operator: str, value: object, event: object = EVENT) -> bool:
    return compile_condition(field, operator, value).test(event)


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("plate.normalized_text", "equals", "ABC123", True),
        ("plate.normalized_text", "equals", "abc123", False),
        ("speed", "equals", 72, True),
        ("speed", "equals", 72.0, True),
        ("flagged", "equals", True, True),
        ("flagged", "equals", 1, False),
        ("speed", "equals", True, False),
        ("plate.normalized_text", "not_equals", "XYZ", True),
        ("plate.normalized_text", "not_equals", "ABC123", False),
        ("plate.normalized_text", "contains", "C12", True),
        ("plate.normalized_text", "contains", "Z", False),
        ("tags", "contains", "ir", True),
        ("tags", "contains", 3, True),
        ("tags", "contains", "day", False),
        ("speed", "contains", "7", False),
        ("plate.normalized_text", "contains", 1, False),
        ("plate.normalized_text", "regex", r"^[A-Z]{3}\d+$", True),
        ("plate.normalized_text", "regex", r"\d{4}", False),
        ("plate.normalized_text", "regex", "C1", True),  # search, not match
        ("speed", "regex", "7", False),
        ("plate.normalized_text", "in_list", ["ABC123", "XYZ789"], True),
        ("plate.normalized_text", "in_list", ["XYZ789"], False),
        ("speed", "in_list", [70, 72], True),
        ("flagged", "in_list", [1], False),
        ("speed", "in_list", [True], False),
        ("flagged", "in_list", [True, "x"], True),
        ("meta", "in_list", ["x", 1], False),
        ("tags", "in_list", ["x"], False),
        ("plate.normalized_text", "not_in_list", ["XYZ789"], True),
        ("plate.normalized_text", "not_in_list", ["ABC123"], False),
        ("meta", "not_in_list", ["x"], False),
        ("tags", "not_in_list", ["x"], False),
        ("speed", "not_in_list", ["72"], True),
        ("meta", "not_equals", "x", False),
        ("speed", "not_equals", "72", True),
        ("flagged", "not_equals", 1, True),
        ("speed", "greater_than", 70, True),
        ("speed", "greater_than", 72, False),
        ("plate.confidence", "greater_than", 0.9, True),
        ("speed", "less_than", 80, True),
        ("speed", "less_than", 72, False),
        ("speed", "greater_or_equal", 72, True),
        ("speed", "greater_or_equal", 72.5, False),
        ("speed", "less_or_equal", 72, True),
        ("speed", "less_or_equal", 71.9, False),
        ("flagged", "greater_than", 0, False),
        ("camera_id", "greater_than", 0, False),
        ("camera_id", "exists", True, True),
        ("camera_id", "exists", False, False),
    ],
)
def test_operator_semantics(field: str, operator: str, value: object, expected: bool) -> None:
    """Each operator compares the field as documented, booleans kept apart from numbers."""
    assert matches(field, operator, value) is expected


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("equals", "x"),
        ("not_equals", "x"),
        ("contains", "x"),
        ("regex", "."),
        ("in_list", ["x"]),
        ("not_in_list", ["x"]),
        ("greater_than", 0),
        ("less_than", 0),
        ("greater_or_equal", 0),
        ("less_or_equal", 0),
        ("exists", True),
    ],
)
@pytest.mark.parametrize("field", ["nope", "plate.nope", "camera_id.deeper", "plate.region"])
def test_absent_field_makes_every_condition_false(field: str, operator: str, value: object) -> None:
    """A missing path or a None value is absent: the condition is false, never an error."""
    assert matches(field, operator, value) is False


@pytest.mark.parametrize("field", ["nope", "plate.region", "camera_id.deeper"])
def test_exists_false_is_true_when_absent(field: str) -> None:
    """exists: false matches a missing path and a None value."""
    assert matches(field, "exists", False) is True


def test_exists_value_defaults_to_true() -> None:
    """exists without a value means exists: true."""
    condition = compile_condition("camera_id", "exists")
    assert condition.value is True
    assert condition.test(EVENT) is True
    assert condition.test({}) is False


def test_conditions_tolerate_non_mapping_events() -> None:
    """An event that is not a mapping fails every condition quietly."""
    for operator, value in [("equals", "x"), ("in_list", ["x"]), ("greater_than", 1)]:
        assert matches("a.b", operator, value, event=["not", "a", "mapping"]) is False


def test_in_list_values_are_compiled_to_a_frozenset() -> None:
    """in_list keeps its values as a frozenset, indexable by the engine when all strings."""
    condition = compile_condition("plate.normalized_text", "in_list", ["A", "B", "A"])
    assert condition.value == frozenset({"A", "B"})
    assert condition.index_values == frozenset({"A", "B"})
    assert compile_condition("speed", "in_list", [1, "a"]).index_values is None


def test_regex_is_compiled_once_at_load() -> None:
    """regex values become compiled patterns at load."""
    condition = compile_condition("camera_id", "regex", "^cam-")
    assert condition.value.pattern == "^cam-"  # type: ignore[attr-defined]


def problems(field: str, operator: str, *value: object) -> list[tuple[str, str]]:
    with pytest.raises(ConditionError) as caught:
        compile_condition(field, operator, *value)
    return caught.value.problems


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("equal", "x", [("operator", 'unknown operator "equal" (did you mean "equals"?)')]),
        (
            "==",
            "x",
            [
                (
                    "operator",
                    'unknown operator "==" (known: equals, not_equals, contains, regex, '
                    "in_list, not_in_list, greater_than, less_than, greater_or_equal, "
                    "less_or_equal, exists)",
                )
            ],
        ),
        (
            "equals",
            ["a", "b"],
            [
                (
                    "value",
                    'expected a string, number or true/false, got ["a", "b"] '
                    "(use in_list for several values)",
                )
            ],
        ),
        (
            "not_equals",
            None,
            [
                (
                    "value",
                    "expected a string, number or true/false, got null "
                    "(use exists: false for a missing field)",
                )
            ],
        ),
        ("in_list", "ABC", [("value", 'expected a list of values, got "ABC"')]),
        ("not_in_list", [], [("value", "must list at least one value")]),
        (
            "in_list",
            ["a", {"b": 1}, None],
            [
                ("value[1]", 'expected a string, number or true/false, got {"b": 1}'),
                ("value[2]", "expected a string, number or true/false, got null"),
            ],
        ),
        (
            "regex",
            "([",
            [
                (
                    "value",
                    'invalid regex "([": missing ]: [ '
                    "(RE2 syntax: no backreferences or lookaround; see docs/rules.md)",
                )
            ],
        ),
        ("regex", 5, [("value", "expected a string (a regular expression), got 5")]),
        ("greater_than", "5", [("value", 'expected a number, got "5"')]),
        ("less_or_equal", True, [("value", "expected a number, got true")]),
        ("exists", "yes", [("value", 'expected true or false, got "yes"')]),
        (
            "contains",
            {"a": 1},
            [
                (
                    "value",
                    'expected a string, number or true/false, got {"a": 1} '
                    "(use in_list for several values)",
                )
            ],
        ),
    ],
)
def test_bad_values_are_rejected_at_load(
    operator: str, value: object, expected: list[tuple[str, str]]
) -> None:
    """A value of the wrong type for its operator is a load error naming the key."""
    assert problems("plate.normalized_text", operator, value) == expected


def test_missing_value_is_required_except_for_exists() -> None:
    """Every operator but exists needs a value."""
    for operator in OPERATORS:
        if operator == "exists":
            continue
        assert problems("camera_id", operator) == [("value", "is required")]


def test_bad_field_and_bad_value_are_both_reported() -> None:
    """A malformed field path and a bad value are reported together."""
    assert problems("plate..text", "greater_than", "x") == [
        (
            "field",
            'invalid field path "plate..text": expected names separated by dots, '
            "like plate.normalized_text",
        ),
        ("value", 'expected a number, got "x"'),
    ]


# -- regex: RE2, linear time ---------------------------------------------------------------

RE2_HINT = "(RE2 syntax: no backreferences or lookaround; see docs/rules.md)"


def test_a_backtracking_pattern_runs_in_linear_time() -> None:
    """(a+)+$ against forty a's and a b answers at once (Python's re takes hours)."""
    condition = compile_condition("plate.normalized_text", "regex", "(a+)+$")
    started = time.monotonic()
    assert not condition.test({"plate": {"normalized_text": "a" * 40 + "b"}})
    assert not condition.test({"plate": {"normalized_text": "a" * 100_000 + "b"}})
    # Far above RE2's microseconds, far below the hours a backtracking engine needs.
    assert time.monotonic() - started < 5
    assert condition.test({"plate": {"normalized_text": "xaaa"}})


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"^(\w)\1", r"invalid escape sequence: \1"),
        ("^(?!TEST)", "invalid perl operator: (?!"),
        ("(?<=A)B", "invalid perl operator: (?<="),
        ("(?>A+)B", "invalid perl operator: (?>"),
        ("A++", "bad repetition operator: ++"),
        (r"ABC\Z", r"invalid escape sequence: \Z"),
        ("(?x) A B", "invalid perl operator: (?x"),
        ("((A{100}){100})", "invalid repetition size: {100}"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_never_run_by_python_re(
    pattern: str, reason: str
) -> None:
    """Python's re accepts each of these; RE2 refuses them, and nothing falls back to re."""
    re.compile(pattern)  # the backtracking engine would have run it
    assert problems("plate.normalized_text", "regex", pattern) == [
        ("value", f"invalid regex {json.dumps(pattern)}: {reason} {RE2_HINT}")
    ]


def test_a_pattern_too_large_for_re2_memory_is_refused() -> None:
    """A pattern whose program exceeds RE2's memory budget is a load error, not a slow match."""
    pattern = "A" * 10_000_000
    assert problems("plate.normalized_text", "regex", pattern)[0][1].endswith(
        f": pattern too large - compile failed {RE2_HINT}"
    )


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("C1", "ABC123", True),  # a search, anywhere in the text
        ("^C1", "ABC123", False),
        ("3$", "ABC123\n", False),  # RE2's $ is the end of the text, not before a last \n
        (r"(?i)^abc", "ABC123", True),
        (r"\d{3}", "ABC\u0663\u0664\u0665", False),  # \d is ASCII digits only
        (r"\p{Greek}", "ΑΒΓ", True),
        ("é", "café", True),
        ("ABC", "\ud800ABC", True),  # a lone surrogate from JSON does not raise
    ],
)
def test_regex_semantics_under_re2(pattern: str, text: str, expected: bool) -> None:
    """regex searches the text with RE2 semantics, over any Python string."""
    event = {"plate": {"normalized_text": text}}
    assert matches("plate.normalized_text", "regex", pattern, event) is expected
