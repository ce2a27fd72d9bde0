"""Schedules: a rule muted inside its ``mute_time_intervals``, or outside its active ones."""

from __future__ import annotations

from collections.abc import Mapping

from alerts.muting.muter import Muted, Status
from contract.notification import Notification
from rules.model import BaseRule


def schedule_mute(rule: BaseRule, now: float) -> Muted | None:
    """Why ``rule`` is muted at ``now`` by its schedule, or None when it is armed."""
    for interval in rule.mute_time_intervals:
        if interval.contains(now):
            return Muted(
                Status.MUTED,
                interval.name,
                f"mute interval {interval.name}",
                held_for_catch_up=rule.catch_up,
            )
    active = rule.active_time_intervals
    if active and not any(interval.contains(now) for interval in active):
        names = ", ".join(interval.name for interval in active)
        return Muted(Status.MUTED, active[0].name, f"outside active intervals {names}")
    return None


class ScheduleMuter:
    def __init__(self, rules: Mapping[str, BaseRule]) -> None:
        self.rules = rules

    def mutes(self, notification: Notification, now: float) -> Muted | None:
        rule = self.rules.get(notification.rule_id)
        return None if rule is None else schedule_mute(rule, now)
