"""Follow-ups due on open alerts: reminders and escalation steps, in one Redis sorted set.

    klaxon:alerts:due   zset   "<alert id>|reminder|<n>" or "<alert id>|escalation|<i>"
                               scored by the wall-clock second it is due

The periodic sweep takes what is due (``alerts.followups``); nothing waits in a Celery
countdown, which a worker would hold past the visibility timeout and get twice. A member
names its (alert, follow-up) exactly, so it is the same on every replay and its task ids
derive from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

DUE_KEY = "klaxon:alerts:due"


class FollowUp(StrEnum):
    REMINDER = "reminder"
    ESCALATION = "escalation"


@dataclass(frozen=True)
class DueItem:
    """One follow-up: reminder ``number`` (from 1) or escalation step ``number`` (from 0)."""

    alert_id: str
    kind: FollowUp
    number: int
    due_at: float

    @property
    def member(self) -> str:
        return f"{self.alert_id}|{self.kind}|{self.number}"

    @classmethod
    def parse(cls, member: str, due_at: float) -> DueItem:
        alert_id, kind, number = member.rsplit("|", 2)
        return cls(alert_id, FollowUp(kind), int(number), due_at)


def reminder_gap(repeat: Sequence[float], number: int) -> float:
    """The wait before reminder ``number`` (from 1): its gap in ``repeat``; the last repeats."""
    return repeat[min(number, len(repeat)) - 1]


def first_due(
    alert_id: str, opened_at: float, repeat: Sequence[float], steps_after: Sequence[float]
) -> list[DueItem]:
    """What an alert opened at ``opened_at`` has due: its first reminder and every step."""
    due = [
        DueItem(alert_id, FollowUp.ESCALATION, index, opened_at + after)
        for index, after in enumerate(steps_after)
    ]
    if repeat:
        due.append(DueItem(alert_id, FollowUp.REMINDER, 1, opened_at + reminder_gap(repeat, 1)))
    return due
