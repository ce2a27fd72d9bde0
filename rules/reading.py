"""What the lifecycle needs from a stateful rule (a threshold rule, or a rule with state_key)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from rules.templates import Template


@dataclass(frozen=True, slots=True)
class Reading:
    """One evaluation of a stateful rule against one event, for one key (device, camera)."""

    key: str
    holds: bool  # the alert condition holds
    clears: bool  # the resolve condition holds (``not holds`` unless hysteresis)
    value: float | None  # the metric's value, for threshold rules
    at: float | None  # event time in seconds, when the event has one


class StatefulRule(Protocol):
    id: str
    name: str
    priority: str
    source: str
    enabled: bool
    channels: tuple[str, ...]
    recipients: Mapping[str, tuple[str, ...]]
    message_template: Template
    subject_template: Template
    resolve_template: Template
    no_data_template: Template
    notify_on_resolve: bool
    for_seconds: float
    repeat_interval: float  # 0: no reminders
    no_data_seconds: float  # 0: no no-data alerts
    # Keys (devices) that get a no-data alert even when they never report at all.
    expected_devices: tuple[str, ...]
    # Threshold rules; None for stateful match rules.
    metric: str | None
    operator: str | None
    threshold: float | None

    @property
    def template_values(self) -> dict[str, object]: ...

    def observe(self, event: object) -> Reading | None:
        """The evaluation of ``event``, or None when the event is not one (no metric, no key)."""


Escape = Callable[[str], str]
