"""What a rule's ``group`` and ``storm`` keys say, and how a window becomes one message.

A grouped rule holds its matches for ``wait`` and then sends one message per channel for
all of them, and again each ``interval`` while matches keep coming (docs/alerts.md,
"Grouping"). ``storm`` groups a rule by the rule alone while it fires faster than
``threshold`` notifications within ``within``. Redis state lives in ``alerts.grouping``;
this module is pure: the spec, the group key and the message text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rules.paths import MISSING, Getter
from rules.templates import Template, format_value

DEFAULT_GROUP_TEMPLATE = "{count} x {rule_name}\n{items}"

# The longest text a channel shows whole, in characters (None: no limit). SMS: Twilio's
# 1,600-character body (at most 10 segments of 160); Slack: a section block's 3,000 (the
# ``text`` fallback allows 40,000, so the section is the binding one).
TEXT_LIMITS: Mapping[str, int | None] = {"sms": 1600, "slack": 3000}

# How long a storm-mode group waits before its first message when the rule has no
# ``group`` of its own: short, so a storm is reported soon after it starts.
STORM_WAIT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """``group: {by: [...], wait: 10s, interval: 1m, max_items: 20}`` plus its template."""

    by: tuple[tuple[str, Getter], ...]
    wait: float
    interval: float
    max_items: int
    template: Template

    def key_values(self, event: object) -> dict[str, str]:
        """The group's fields for one match: ``{field: value}``, "" for a missing field."""
        values: dict[str, str] = {}
        for path, get in self.by:
            value = get(event)
            values[path] = "" if value is MISSING or value is None else format_value(value)
        return values


@dataclass(frozen=True, slots=True)
class StormSpec:
    """``storm: {threshold: 50, within: 1m}``: group by the rule alone past this rate."""

    threshold: int
    within: float
    # How the rule groups while in a storm: ``by: []``, interval ``within``.
    grouping: GroupSpec


def group_key(values: Mapping[str, str]) -> str:
    """One text per distinct combination of the group's field values ("" for ``by: []``)."""
    return "\x1f".join(f"{name}={value}" for name, value in values.items())


def nested(values: Mapping[str, str]) -> dict[str, object]:
    """``{"camera.id": "x"}`` as ``{"camera": {"id": "x"}}`` so ``{group.camera.id}`` finds it."""
    root: dict[str, object] = {}
    for path, value in values.items():
        node = root
        *parents, last = path.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[last] = value
    return root


def one_line(text: str) -> str:
    """A match's rendered message as one item line: its non-empty lines joined by " · "."""
    return " · ".join(line.strip() for line in text.splitlines() if line.strip())


def items_text(lines: Sequence[str], count: int, shown: int) -> str:
    """The first ``shown`` lines, then "and N more" for the matches not listed."""
    listed = list(lines[:shown])
    rest = count - len(listed)
    if rest > 0:
        listed.append(f"and {rest} more")
    return "\n".join(listed)


@dataclass(frozen=True, slots=True)
class GroupWindow:
    """What one window of one group holds when it is flushed."""

    count: int
    lines: tuple[str, ...]  # the first max_items item lines, in arrival order
    fields: Mapping[str, str]


def render_group(
    template: Template,
    window: GroupWindow,
    extra: Mapping[str, object],
    limit: int | None,
    escape: Callable[[str], str] | None = None,
) -> str:
    """The group message, listing as many items as fit in ``limit`` characters.

    Items are dropped from the end (and counted in "and N more") until the message fits;
    if even no item fits, the text is cut, as the channel would cut it.
    """
    context: dict[str, object] = {"count": window.count, "group": nested(window.fields)}
    shown = len(window.lines)
    while True:
        context["items"] = items_text(window.lines, window.count, shown)
        text = template.render(context, extra, escape)
        if limit is None or len(text) <= limit:
            return text
        if shown == 0:
            return text[: limit - 1] + "…"
        # Drop enough lines at once that long lists converge in a few renders.
        over = len(text) - limit
        drop = 1
        while drop < shown and sum(len(x) + 1 for x in window.lines[shown - drop : shown]) < over:
            drop += 1
        shown -= drop
