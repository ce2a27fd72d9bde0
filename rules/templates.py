"""Message templates: ``{plate.normalized_text}`` placeholders, parsed once at load.

A placeholder is a dot path (see rules.paths); ``{{`` and ``}}`` are literal braces.
Anything else between braces (``{x!r}``, ``{x:>10}``, ``{x[0]}``, ``{}``) is rejected at
load, so ``render`` never raises. Rendering rules for a value:

- absent (missing path or None): ``<missing PATH>``
- str as is; true/false; int and float as Python spells them (``0.1``, ``1e-05``)
- mappings and lists as compact JSON

``extra`` fills in what the event lacks: the bridge passes the rule's own ``rule_id``,
``rule_name`` and ``priority`` there, and an event field of the same name wins.
``escape`` is applied to substituted values only, never to the template's own text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rules.paths import MISSING, Getter, PathError, compile_path

# {{, }}, a {placeholder}, a stray "{" or "}": scanned left to right.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|\{|\}")

_PLACEHOLDER_HINT = (
    "a placeholder is a field path like {plate.normalized_text}; write {{ and }} for literal braces"
)


class TemplateError(ValueError):
    """Every problem with one template text."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def format_value(value: object) -> str:
    """How a field value reads in a message."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal texts around compiled placeholders."""

    text: str
    # literals[0], field 0, literals[1], field 1, ..., literals[-1]
    literals: tuple[str, ...]
    fields: tuple[tuple[str, Getter], ...]

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(path for path, _ in self.fields)

    def render(
        self,
        event: object,
        extra: Mapping[str, object] | None = None,
        escape: Callable[[str], str] | None = None,
    ) -> str:
        literals = self.literals
        if not self.fields:
            return literals[0]
        parts = [literals[0]]
        for (path, get), literal in zip(self.fields, literals[1:], strict=True):
            value = get(event)
            if (value is MISSING or value is None) and extra is not None:
                value = get(extra)
            text = f"<missing {path}>" if value is MISSING or value is None else format_value(value)
            parts.append(escape(text) if escape is not None else text)
            parts.append(literal)
        return "".join(parts)


def compile_template(text: str) -> Template:
    """Parse ``text``; raise TemplateError listing every malformed placeholder."""
    problems: list[str] = []
    literals: list[str] = []
    fields: list[tuple[str, Getter]] = []
    current: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        current.append(text[position : match.start()])
        position = match.end()
        piece = match.group(0)
        if piece == "{{":
            current.append("{")
        elif piece == "}}":
            current.append("}")
        elif piece == "{":
            problems.append(f'unclosed "{{" at position {match.start()} ({_PLACEHOLDER_HINT})')
        elif piece == "}":
            problems.append(f'single "}}" at position {match.start()} ({_PLACEHOLDER_HINT})')
        else:
            path = match.group(1)
            try:
                getter = compile_path(path)
            except PathError:
                problems.append(f'invalid placeholder "{piece}" ({_PLACEHOLDER_HINT})')
                continue
            literals.append("".join(current))
            current = []
            fields.append((path, getter))
    current.append(text[position:])
    literals.append("".join(current))
    if problems:
        raise TemplateError(problems)
    return Template(text, tuple(literals), tuple(fields))
