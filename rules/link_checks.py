"""Warnings about ``{ack_url}`` and ``{silence_url}`` in templates that cannot fill them.

Three reasons a link placeholder renders empty (rules.links): the message is about no
alert (a match rule without ``acknowledge: true``, a grouped message, a resolve), or,
for ``{ack_url}``, about an alert that cannot be acknowledged (a range rule's level
alert, a no-data alert), which the rules file alone tells (``check_config`` warns); or
the deployment signs no links
(KLAXON_PUBLIC_URL unset), which only the process knows (``klaxon check`` and the bridge
warn, ``unsigned_link_warnings``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from contract.problems import ConfigProblem, ProblemSink
from rules.kinds import AnyRule
from rules.links import ACK_URL, used_placeholders
from rules.model import Rule
from rules.range import RangeRule
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
    # Why its alert cannot be acknowledged (no {ack_url}, only {silence_url}), or None.
    no_ack: str | None = None

    @property
    def always_empty(self) -> str | None:
        """Why this placeholder always renders empty, whatever the deployment, or None."""
        if self.no_alert is not None:
            return self.no_alert
        return self.no_ack if self.placeholder == ACK_URL else None

    @property
    def field(self) -> str:
        return f"rules[{self.rule.index}].{self.key}"


# Alerts without an ack record (alerts.acks): only a silence link is signed for them.
_RANGE_NO_ACK = (
    "a range rule's level alert cannot be acknowledged, only silenced (use {silence_url})"
)
_NO_DATA_NO_ACK = "a no-data alert cannot be acknowledged, only silenced (use {silence_url})"


def _templates(rule: AnyRule) -> Iterator[tuple[str, Template, str | None, str | None]]:
    """(key, template, why it has no alert, why its alert cannot be acked) for every
    template of ``rule``; None where it has one or can."""
    has_alert = isinstance(rule, StatefulRule) or rule.acknowledge
    alertless = (
        None if has_alert else "this rule opens no alert to ack or silence (set acknowledge: true)"
    )
    no_ack = _RANGE_NO_ACK if isinstance(rule, RangeRule) else None
    yield "message_template", rule.message_template, alertless, no_ack
    yield "subject_template", rule.subject_template, alertless, no_ack
    if isinstance(rule, StatefulRule):
        yield (
            "resolve_template",
            rule.resolve_template,
            "a resolve message has no open alert to ack or silence",
            None,
        )
        yield "no_data_template", rule.no_data_template, None, _NO_DATA_NO_ACK
    if isinstance(rule, Rule):
        spec = rule.group or (rule.storm.grouping if rule.storm is not None else None)
        if spec is not None:
            yield (
                "group_template",
                spec.template,
                "a grouped message is about many matches, not one alert",
                None,
            )


def link_uses(rules: Iterable[AnyRule]) -> Iterator[LinkUse]:
    """Every link placeholder the enabled ``rules`` use, template by template."""
    for rule in rules:
        if not rule.enabled:
            continue
        for key, template, no_alert, no_ack in _templates(rule):
            for placeholder in used_placeholders(template):
                yield LinkUse(rule, key, placeholder, no_alert, no_ack)


def warn_alertless_links(rules: Iterable[AnyRule], sink: ProblemSink) -> None:
    """Warn about each link placeholder in a template that is never about an open alert,
    and each ``{ack_url}`` about an alert that cannot be acknowledged."""
    for use in link_uses(rules):
        why = use.always_empty
        if why is not None:
            sink.warn(
                use.field, f"{{{use.placeholder}}} always renders empty here: {why}", use.rule.id
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
        if use.always_empty is None
    ]
