"""Label matchers, as Alertmanager writes them: ``name=value``, ``!=``, ``=~`` and ``!~``.

A matcher names ``rule_id``, ``priority``, ``channel`` or a dot path into the event
(``camera_id``, ``plate.normalized_text``). Regexes are compiled by RE2
(``rules.linear_regex``) and fully anchored, as in Alertmanager: ``=~tank_.*`` matches
``tank_ph`` and not ``big_tank_ph``. Silences (``klaxon silence add --match``) and the
``inhibit:`` section share this one parser, so a bad matcher reads the same error in both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from rules.linear_regex import LinearRegex, RegexError, compile_regex
from rules.paths import MISSING, Getter, PathError, compile_path
from rules.templates import format_value

# The names a notification itself carries; any other name is a path into the event.
OWN_LABELS = ("rule_id", "priority", "channel")

# Longest operators first, so that "=~" is not read as "=" followed by "~...".
_SPLIT = re.compile(r"\A\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)(.*)\Z", re.DOTALL)


class MatcherError(ValueError):
    """A matcher that cannot be used; the message names it and says why."""


class Op(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class Labels(Protocol):
    def label(self, name: str) -> str | None:
        """The text of label ``name``; None when there is none."""


@lru_cache(maxsize=1024)
def _getter(path: str) -> Getter:
    # Matchers are few and checked at parse time: each path compiles once per process.
    return compile_path(path)


class Subject:
    """What a matcher looks at: one notification's own labels and its event.

    Each label is read and formatted once, however many silences and inhibit rules ask.
    """

    __slots__ = ("_texts", "event")

    def __init__(
        self, rule_id: str, priority: str, channel: str, event: Mapping[str, object]
    ) -> None:
        self.event = event
        self._texts: dict[str, str | None] = {
            "rule_id": rule_id,
            "priority": priority,
            "channel": channel,
        }

    def label(self, name: str) -> str | None:
        try:
            return self._texts[name]
        except KeyError:
            value = _getter(name)(self.event)
            text = None if value is MISSING or value is None else format_value(value)
            self._texts[name] = text
            return text


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    _regex: LinearRegex | None
    # What a match must come out as: True for = and =~, False for != and !~.
    _wanted: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_wanted", self.op in (Op.EQUAL, Op.REGEX))

    def matches(self, labels: Labels) -> bool:
        # A missing label reads as "" (Alertmanager's rule): ``device_id!=x`` holds for an
        # event without a device_id, ``device_id=x`` does not.
        text = labels.label(self.name) or ""
        if self._regex is not None:
            return self._regex.search(text) is self._wanted
        return (text == self.value) is self._wanted

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


def matcher(name: str, op: Op, value: str) -> Matcher:
    """A matcher; raise MatcherError naming it when its name or regex cannot be used."""
    shown = f"{name}{op}{value}"
    if name not in OWN_LABELS:
        try:
            _getter(name)
        except PathError as exc:
            raise MatcherError(f'bad matcher "{shown}": {exc}') from None
    regex: LinearRegex | None = None
    if op in (Op.REGEX, Op.NOT_REGEX):
        try:
            # Alone first, so that an error quotes the pattern as written, not as anchored.
            compile_regex(value)
            regex = compile_regex(f"\\A(?:{value})\\z")
        except RegexError as exc:
            raise MatcherError(f'bad matcher "{shown}": invalid regex: {exc}') from None
    return Matcher(name, op, value, regex)


def parse_matcher(text: str) -> Matcher:
    """``rule_id=tank_temp``, ``camera_id=~gate-.*``...; raise MatcherError naming ``text``."""
    found = _SPLIT.match(text)
    if found is None:
        raise MatcherError(
            f'bad matcher "{text}": expected NAME=VALUE, NAME!=VALUE, NAME=~REGEX or '
            "NAME!~REGEX, where NAME is rule_id, priority, channel or an event path"
        )
    name, op, value = found.groups()
    return matcher(name, Op(op), value)


def parse_label_value(name: str, given: object) -> Matcher:
    """One entry of an ``inhibit:`` source/target mapping: ``{rule_id: "=~tank_.*"}``.

    A plain value is an equality; a value starting with an operator uses it.
    """
    if isinstance(given, bool) or not isinstance(given, str | int | float):
        raise MatcherError(f'bad matcher "{name}": expected a text value, got {given!r}')
    text = given if isinstance(given, str) else format_value(given)
    for op in (Op.REGEX, Op.NOT_REGEX, Op.NOT_EQUAL, Op.EQUAL):
        if text.startswith(op.value):
            return matcher(name, op, text[len(op.value) :])
    return matcher(name, Op.EQUAL, text)


def all_match(matchers: tuple[Matcher, ...], labels: Labels) -> bool:
    for matcher in matchers:  # noqa: SIM110 - all() would allocate a generator per call
        if not matcher.matches(labels):
            return False
    return True


def cheapest_first(matchers: tuple[Matcher, ...]) -> tuple[Matcher, ...]:
    """The same matchers, those on a notification's own labels first and regexes last:
    ``all_match`` then usually decides on a string comparison."""
    return tuple(sorted(matchers, key=lambda m: (m._regex is not None, m.name not in OWN_LABELS)))
