"""Configuration problems: collected, never raised one at a time.

A config file is checked whole, and every problem names the file, the rule id (when the
problem is inside a rule) and the field, so that one run of ``klaxon check`` shows
everything there is to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file."""

    file: str
    field: str
    message: str
    rule_id: str | None = None
    warning: bool = False

    def __str__(self) -> str:
        where = f'rule "{self.rule_id}": ' if self.rule_id is not None else ""
        return f"{self.file}: {where}{self.field}: {self.message}"


@dataclass
class ProblemSink:
    """Collects problems for one file; ``at()`` narrows the rule id for nested readers."""

    file: str
    problems: list[ConfigProblem] = field(default_factory=list)

    def error(self, field_path: str, message: str, rule_id: str | None = None) -> None:
        self.problems.append(ConfigProblem(self.file, field_path, message, rule_id))

    def warn(self, field_path: str, message: str, rule_id: str | None = None) -> None:
        self.problems.append(ConfigProblem(self.file, field_path, message, rule_id, warning=True))

    @property
    def errors(self) -> list[ConfigProblem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[ConfigProblem]:
        return [p for p in self.problems if p.warning]


class ConfigInvalid(Exception):
    """A config file has errors; ``problems`` lists every one of them."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems if not p.warning)
        count = sum(1 for p in problems if not p.warning)
        super().__init__(f"{count} error(s) in the configuration:\n{lines}")
