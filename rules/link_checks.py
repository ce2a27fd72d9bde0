"""Warnings about ``{ack_url}`` and ``{silence_url}`` in templates that cannot fill them.

Two reasons a link placeholder renders empty (rules.links): the message is about no
alert (a match rule without ``acknowledge: true``, a grouped message, a resolve), which
the rules file alone tells (``check_config`` warns); or the deployment signs no links
(KLAXON_PUBLIC_URL unset), which only the process knows (``klaxon check`` and the bridge
warn, ``unsigned_link_warnings``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from contract.problems import ConfigProblem, ProblemSink
from rules.kinds import AnyRule
from rules.links import used_placeholders
from rules.model import Rule
from rules.stateful import StatefulRule
from rules.templates import Template


@dataclass(frozen=True)
class LinkUse:
    """One link placeholder in one of a rule's templates."""

    rule: AnyRule
    key: str  # the template's key in the rule, e.g. "message_template"
    placeholder: str
    # Why the template never has a link to put there, or None when it has one.
    no_alert: str | None

    @property
    def field(self) -> str:
        return f"rules[{self.rule.index}].{self.key}"


def _templates(rule: AnyRule) -> Iterator[tuple[str, Template, str | None]]:
    """(key, template, why it has no alert or None) for every template of ``rule``."""
    has_alert = isinstance(rule, StatefulRule) or rule.acknowledge
    alertless = (
        None if has_alert else "this rule opens no alert to ack or silence (set acknowledge: true)"
    )
    yield "message_template", rule.message_template, alertless
    yield "subject_template", rule.subject_template, alertless
    if isinstance(rule, StatefulRule):
        yield (
            "resolve_template",
            rule.resolve_template,
            "a resolve message has no open alert to ack or silence",
        )
        yield "no_data_template", rule.no_data_template, None
    if isinstance(rule, Rule):
        spec = rule.group or (rule.storm.grouping if rule.storm is not None else None)
        if spec is not None:
            yield (
                "group_template",
                spec.template,
                "a grouped message is about many matches, not one alert",
            )


def link_uses(rules: Iterable[AnyRule]) -> Iterator[LinkUse]:
    """Every link placeholder the enabled ``rules`` use, template by template."""
    for rule in rules:
        if not rule.enabled:
            continue
        for key, template, no_alert in _templates(rule):
            for placeholder in used_placeholders(template):
                yield LinkUse(rule, key, placeholder, no_alert)


def warn_alertless_links(rules: Iterable[AnyRule], sink: ProblemSink) -> None:
    """Warn about each link placeholder in a template that is never about an open alert."""
    for use in link_uses(rules):
        if use.no_alert is not None:
            sink.warn(
                use.field,
                f"{{{use.placeholder}}} always renders empty here: {use.no_alert}",
                use.rule.id,
            )


def unsigned_link_warnings(rules: Iterable[AnyRule], file: str) -> list[ConfigProblem]:
    """Warnings for a process that signs no links (KLAXON_PUBLIC_URL unset): each link
    placeholder that would otherwise carry a link renders empty."""
    return [
        ConfigProblem(
            file,
            use.field,
            f"{{{use.placeholder}}} renders empty: KLAXON_PUBLIC_URL is not set, so "
            "notifications carry no ack or silence links",
            use.rule.id,
            warning=True,
        )
        for use in link_uses(rules)
        if use.no_alert is None
    ]
