"""The matchers that silence one alert: its rule, and its key where its events carry it.

Both the signed-in form (``/silences/new?alert_id=``) and a silence link use this; for a
link it is the whole boundary of what may be silenced without signing in, so a matcher is
made only when it matches the key exactly: a key that would read as another operator
(``~.*`` after ``=`` is a regex), or that a form line would change (surrounding spaces,
line breaks), is not matched, and the caller is told so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis

from alerts.acks import AckBook
from alerts.store import AlertStore
from klaxon.api.rules_report import checked_config
from klaxon.console.live_alerts import FiringRow, event_of
from klaxon.console.silence_form import alert_subject
from rules.matchers import MatcherError, Op, parse_matcher
from rules.model import DEFAULT_DEDUP_KEY, Rule
from rules.stateful import DEFAULT_THRESHOLD_STATE_KEY, StatefulRule

# Characters that end or split a matcher line (str.splitlines breaks on all of these).
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


class NoSuchAlert(LookupError):
    """The alert is not live (resolved, or never fired)."""


@dataclass(frozen=True)
class AlertMatchers:
    matchers: tuple[str, ...]
    # Empty when the matchers single out this alert's key; else why they do not.
    note: str = ""

    @property
    def exact(self) -> bool:
        return not self.note


def exact_matcher(path: str, value: str) -> str | None:
    """``path=value`` if it parses back as exactly that equality, else None."""
    if not value or value != value.strip() or _LINE_BREAKS.intersection(value):
        return None
    text = f"{path}={value}"
    try:
        parsed = parse_matcher(text)
    except MatcherError:
        return None
    if parsed.name != path or parsed.op is not Op.EQUAL or parsed.value != value:
        return None
    return text


def alert_matchers(
    client: redis.Redis, rules_path: Path, default_topic: str, alert_id: str
) -> AlertMatchers:
    """Matchers for the live alert ``alert_id``; NoSuchAlert when it is not live."""
    alert = AlertStore(client).get(alert_id)
    if alert is None:
        raise NoSuchAlert(alert_id)
    (fields,) = AckBook(client).fields_of([alert_id])
    row = FiringRow(alert, None, str(alert.metadata.get("priority", "")), event_of(fields))
    rule_line = f"rule_id={alert.rule_id}"
    path = _key_path(rules_path, default_topic, alert.rule_id, alert.kind)
    key_line = exact_matcher(path, alert.device_id)
    if key_line is not None and parse_matcher(key_line).matches(alert_subject(row)):
        return AlertMatchers((rule_line, key_line))
    return AlertMatchers(
        (rule_line,),
        f"The event of this alert has no {path} field holding its key "
        f"{alert.device_id!r} as an exact value, so only its rule is matched: this silence "
        f"would mute every alert of {alert.rule_id}.",
    )


def _key_path(rules_path: Path, default_topic: str, rule_id: str, kind: str) -> str:
    """The event path that holds an alert's key: a stateful rule's ``state_key``, a hit
    rule's ``dedup_key``; the defaults when the rule is no longer in the rules file."""
    config, _ = checked_config(rules_path, default_topic)
    rule = next((r for r in (config.rules if config else ()) if r.id == rule_id), None)
    if isinstance(rule, StatefulRule):
        return rule.state_key
    if isinstance(rule, Rule):
        return rule.rate_limit.dedup_key if rule.rate_limit else DEFAULT_DEDUP_KEY
    return DEFAULT_DEDUP_KEY if kind == "hit" else DEFAULT_THRESHOLD_STATE_KEY
