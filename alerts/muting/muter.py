"""What every muter answers: does it mute this notification now, and why.

Alertmanager's design: silences, time intervals and inhibition each implement one
question, and the mute stage (``alerts.muting.stage``) asks them in turn and records the
first answer. ``Status`` is what the outbox and the metrics call the three kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from contract.notification import Notification
from rules.matchers import Subject


class Status(StrEnum):
    SILENCED = "silenced"  # a silence (klaxon silence add)
    MUTED = "muted"  # a rule's mute_time_intervals, or outside its active_time_intervals
    INHIBITED = "inhibited"  # an inhibit rule whose source alert fires


@dataclass(frozen=True)
class Muted:
    """Why a notification is not sent: the kind, the thing that muted it, and in words."""

    status: Status
    ref: str  # the silence id, the interval name, or the inhibiting alert id
    reason: str
    # A mute interval of a rule with catch_up: the notification is held for a summary.
    held_for_catch_up: bool = False


class Muter(Protocol):
    def mutes(self, notification: Notification, now: float) -> Muted | None: ...


def subject_of(notification: Notification) -> Subject:
    return Subject(
        notification.rule_id, notification.priority, notification.channel, notification.event
    )


def alert_id_of(notification: Notification) -> str | None:
    """The stateful alert a notification is about, if any."""
    alert = notification.alert or {}
    found = alert.get("id")
    return found if isinstance(found, str) else None
