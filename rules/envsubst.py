"""``${VAR}`` and ``${VAR:-default}`` in the string values of a loaded YAML document.

Only values are substituted, never keys. ``$${`` is a literal ``${``. An unset (or empty)
variable without a default becomes "" and is reported, with the field it was in, so the caller can
warn about it (the seed's example must load with its secrets unset). A malformed reference
(``${}``, ``${A B}``, an unclosed ``${``) is reported as bad.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_REFERENCE = re.compile(
    r"\$\$\{"  # escaped: a literal ${
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\$\{[^}]*\}?"  # anything else after ${ is malformed
)


@dataclass(frozen=True)
class Unset:
    """``${name}`` at ``path`` was unset or empty (compose's ``${X:-}``) with no default."""

    path: str
    name: str
    empty: bool = False

    @property
    def message(self) -> str:
        return f"${{{self.name}}} is {'empty' if self.empty else 'not set'}"


@dataclass(frozen=True)
class Malformed:
    """A ``${...}`` at ``path`` that is not a variable reference."""

    path: str
    text: str


@dataclass
class Substitution:
    """What ``substitute_tree`` found besides the substituted values."""

    unset: list[Unset] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)


def substitute(text: str, env: Mapping[str, str], path: str, found: Substitution) -> str:
    """``text`` with every reference replaced; unset and malformed ones go into ``found``."""
    if "${" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        name = match.group("name")
        if name is None:
            found.malformed.append(Malformed(path, whole))
            return whole
        value = env.get(name)
        if value:
            return value
        # As in the shell, ":-" also replaces an empty value.
        default = match.group("default")
        if default is not None:
            return default
        found.unset.append(Unset(path, name, empty=value is not None))
        return ""

    return _REFERENCE.sub(replace, text)


def substitute_tree(
    data: object, env: Mapping[str, str], found: Substitution, path: str = ""
) -> object:
    """A copy of ``data`` with every string value substituted; keys stay as written."""
    if isinstance(data, str):
        return substitute(data, env, path, found)
    if isinstance(data, dict):
        return {
            key: substitute_tree(value, env, found, f"{path}.{key}" if path else str(key))
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [substitute_tree(item, env, found, f"{path}[{i}]") for i, item in enumerate(data)]
    return data
