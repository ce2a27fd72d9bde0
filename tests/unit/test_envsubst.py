"""${VAR} substitution in string values of a loaded YAML document."""

from __future__ import annotations

import pytest

from rules.envsubst import Malformed, Substitution, Unset, substitute, substitute_tree

ENV = {"HOST": "smtp.example.com", "EMPTY": "", "PORT": "587"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${HOST}", "smtp.example.com"),
        ("smtp://${HOST}:${PORT}/", "smtp://smtp.example.com:587/"),
        ("${NOPE:-fallback}", "fallback"),
        ("${HOST:-fallback}", "smtp.example.com"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${NOPE:-}", ""),
        ("$${HOST}", "${HOST}"),
        ("$$${HOST}", "$${HOST}"),  # "$" then the escape
        ("cost: $5, $HOST", "cost: $5, $HOST"),
        ("no references", "no references"),
    ],
)
def test_substitute(text: str, expected: str) -> None:
    """${VAR}, ${VAR:-default} and the $${ escape behave as in compose files."""
    found = Substitution()
    assert substitute(text, ENV, "f", found) == expected
    assert found == Substitution()


def test_unset_variable_becomes_empty_and_is_reported() -> None:
    """An unset ${VAR} without default becomes "" and is reported with its field."""
    found = Substitution()
    assert substitute("Bearer ${TOKEN}", ENV, "notifications.webhook.headers.X", found) == "Bearer "
    assert found.unset == [Unset("notifications.webhook.headers.X", "TOKEN")]
    assert found.unset[0].message == "${TOKEN} is not set"


def test_empty_variable_is_reported_as_empty() -> None:
    """A variable set to "" (compose's ${X:-}) without default is reported as empty."""
    found = Substitution()
    assert substitute("${EMPTY}", ENV, "f", found) == ""
    assert found.unset[0].message == "${EMPTY} is empty"


@pytest.mark.parametrize("text", ["${}", "${A B}", "${1X}", "${UNCLOSED", "${A:default}"])
def test_malformed_references_are_reported(text: str) -> None:
    """A ${ that is not a variable reference is reported and left as written."""
    found = Substitution()
    assert substitute(text, ENV, "f", found) == text
    assert found.malformed == [Malformed("f", text)]


def test_tree_substitutes_values_not_keys() -> None:
    """Every string value in nested mappings and lists is substituted; keys and others kept."""
    found = Substitution()
    data = {
        "${HOST}": "${HOST}",
        "n": 5,
        "flag": True,
        "list": ["${PORT}", {"deep": "${MISSING}"}],
    }
    assert substitute_tree(data, ENV, found) == {
        "${HOST}": "smtp.example.com",
        "n": 5,
        "flag": True,
        "list": ["587", {"deep": ""}],
    }
    assert found.unset == [Unset("list[1].deep", "MISSING")]
