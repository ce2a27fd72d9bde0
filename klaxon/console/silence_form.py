"""The silence form: what a person typed, checked line by line, and the alerts it would mute.

Matchers are one per line in Alertmanager's syntax and are checked by the same parser and
bounds as the API (klaxon.api.silence_input), so a line the form accepts the API would too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from klaxon.api.silence_input import (
    MAX_COMMENT,
    MAX_MATCHERS,
    DurationError,
    parse_matchers,
    silence_seconds,
)
from klaxon.console.live_alerts import FiringRow
from rules.matchers import Matcher, Subject, all_match

DEFAULT_DURATION = "1h"


@dataclass(frozen=True)
class SilenceForm:
    matchers: str = ""
    duration: str = DEFAULT_DURATION
    comment: str = ""

    def lines(self) -> list[tuple[int, str]]:
        """(line number, matcher) of each line that is not blank."""
        return [
            (number, line.strip())
            for number, line in enumerate(self.matchers.splitlines(), 1)
            if line.strip()
        ]


@dataclass(frozen=True)
class Checked:
    """The form's matchers and duration, and every problem by field (``matchers``...)."""

    texts: tuple[str, ...]
    matchers: tuple[Matcher, ...]
    seconds: float
    problems: dict[str, list[str]] = field(default_factory=dict)


def check(form: SilenceForm) -> Checked:
    problems: dict[str, list[str]] = {}
    lines = form.lines()
    matchers, bad = parse_matchers([text for _, text in lines])
    if not lines:
        problems["matchers"] = ["Give at least one matcher, e.g. rule_id=hotlist."]
    elif len(lines) > MAX_MATCHERS:
        problems["matchers"] = [f"At most {MAX_MATCHERS} matchers, one per line ({len(lines)})."]
    else:
        problems.update(matchers=[f"Line {lines[i][0]}: {message}" for i, message in bad])
    seconds = 0.0
    try:
        seconds = silence_seconds(form.duration.strip())
    except DurationError as exc:
        problems["duration"] = [f"Duration {form.duration.strip()!r}: {exc}."]
    if len(form.comment) > MAX_COMMENT:
        problems["comment"] = [f"At most {MAX_COMMENT} characters ({len(form.comment)})."]
    return Checked(
        texts=tuple(text for _, text in lines),
        matchers=matchers,
        seconds=seconds,
        problems={name: found for name, found in problems.items() if found},
    )


def alert_subject(row: FiringRow) -> Subject:
    """What a silence's matchers see of an alert's next notification: its rule, priority and
    event (the ack record's context, which reminders and escalations carry). No channel: an
    alert goes to several. Without a recorded event, only its key as ``device_id``."""
    event = row.event or {"device_id": row.alert.device_id}
    return Subject(row.alert.rule_id, row.priority, "", event)


def would_mute(rows: Sequence[FiringRow], matchers: tuple[Matcher, ...]) -> list[FiringRow]:
    """The active alerts whose notifications the matchers match, on at least one channel."""
    # A channel matcher is checked per notification; an alert has one per channel.
    previewed = tuple(m for m in matchers if m.name != "channel")
    return [row for row in rows if all_match(previewed, alert_subject(row))]
