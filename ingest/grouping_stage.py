"""The grouping stage: matches of grouped rules (or rules in a storm) are held in Redis.

It runs after cooldowns (and after silences, when they come): a match that would not be
sent alone is not counted in a group either. What it holds is durable in Redis, so the
batch's offsets may be committed once it returns; ``ingest.group_flusher`` sends each
group's window when it is due (docs/alerts.md, "Grouping").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

from alerts.grouping import Addition, GroupId, GroupStore, Item, StormMeter
from contract import metrics
from rules.grouping import GroupSpec, group_key, one_line
from rules.links import NO_LINKS
from rules.model import Rule

if TYPE_CHECKING:  # the pipeline imports this module
    from ingest.pipeline import Match

log = logging.getLogger(__name__)

GROUP = "group"
STORM = "storm"


def spec_for(rule: Rule, mode: str) -> GroupSpec | None:
    """The grouping ``mode`` means for ``rule``: its own group, or its storm grouping."""
    if mode == STORM:
        return rule.storm.grouping if rule.storm is not None else None
    return rule.group


class GroupingStage:
    def __init__(
        self,
        store: GroupStore,
        storms: StormMeter,
        rules: Mapping[str, Rule],
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.storms = storms
        # Every grouped or storm-watched rule by id: what the flusher composes with.
        self.rules = rules
        self.clock = clock

    def hold(self, matches: Sequence[Match]) -> tuple[list[Match], list[Match]]:
        """(matches sent one by one, matches held in a group). Touches Redis (may raise)."""
        now = self.clock()
        modes = self._modes(matches, now)
        alone = [m for m, mode in zip(matches, modes, strict=True) if mode is None]
        held = [(m, mode) for m, mode in zip(matches, modes, strict=True) if mode is not None]
        items: dict[GroupId, list[Item]] = {}
        firsts: dict[GroupId, Addition] = {}
        for match, mode in held:
            rule = match.rule
            spec = spec_for(rule, mode)
            if spec is None:  # pragma: no cover - _modes only names modes the rule has
                continue
            fields = spec.key_values(match.context)
            gid = GroupId(rule.id, mode, group_key(fields))
            extra = {**NO_LINKS, **rule.template_values}  # a grouped line has no links
            line = one_line(rule.message_template.render(match.context, extra))
            if gid not in items:
                items[gid] = []
                source = asdict(match.decoded.source)
                firsts[gid] = Addition(gid, spec.wait, spec.max_items, fields, source, ())
            # The match's identity: a replayed batch finds it in the group's seen set.
            identity = f"{match.decoded.source.identity}/{rule.id}"
            items[gid].append(Item(identity, line))
        self.store.add([replace(a, items=items[gid]) for gid, a in firsts.items()], now)
        for match, _ in held:
            metrics.grouped_items.labels(match.rule.id).inc()
        return alone, [m for m, _ in held]

    def _modes(self, matches: Sequence[Match], now: float) -> list[str | None]:
        """Per match: None (send alone), GROUP or STORM."""
        modes: list[str | None] = [GROUP if m.rule.group is not None else None for m in matches]
        by_rule: dict[str, list[int]] = {}
        for position, match in enumerate(matches):
            if match.rule.storm is not None:
                by_rule.setdefault(match.rule.id, []).append(position)
        for rule_id, positions in by_rule.items():
            storm = matches[positions[0]].rule.storm
            assert storm is not None
            verdict = self.storms.count(rule_id, now, storm.within, storm.threshold, len(positions))
            if verdict.switched_on:
                metrics.storm_switches.labels(rule_id, "on").inc()
                log.warning(
                    "storm mode on for rule %s: more than %d notifications within %gs, "
                    "grouping by the rule alone",
                    rule_id,
                    storm.threshold,
                    storm.within,
                )
            if verdict.switched_off:
                metrics.storm_switches.labels(rule_id, "off").inc()
                log.warning(
                    "storm mode off for rule %s: at most %d notifications within %gs, "
                    "back to its own grouping",
                    rule_id,
                    storm.threshold,
                    storm.within,
                )
            for position in positions[verdict.individual :]:
                modes[position] = STORM
        return modes
