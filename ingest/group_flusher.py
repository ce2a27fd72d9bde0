"""Send each group's window when it is due: claim it, publish it, then forget it.

Runs in the bridge between batches (``Bridge.run`` calls ``flush`` about every half
second), which gives ``wait: 10s`` sub-second precision without another process. Several
bridges may flush at once: a claim is atomic, and a window's tasks have ids derived from
(rule, group key, window start), so publishing one twice still sends it once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping

from alerts.grouping import ClaimedWindow, GroupStore
from contract import metrics
from contract.notification import Notification, Source
from contract.publisher import Publisher
from ingest.grouping_stage import spec_for
from rules.group_compose import compose_group
from rules.grouping import GroupWindow
from rules.model import Rule

log = logging.getLogger(__name__)


class GroupFlusher:
    def __init__(
        self,
        store: GroupStore,
        publisher: Publisher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock

    def flush(self, rules: Mapping[str, Rule]) -> int:
        """Claim every due window and publish every claimed one; the windows published."""
        now = self.clock()
        for group in self.store.due(now):
            rule = rules.get(group.rule_id)
            spec = spec_for(rule, group.mode) if rule is not None else None
            # A rule gone or no longer grouped: its window is dropped by _compose, warned.
            interval = spec.interval if spec is not None else 0.0
            self.store.claim(group, interval, now)
        published = 0
        for window in self.store.pending():
            notifications = self._compose(window, rules, now)
            if notifications is None:
                self.store.done(window)
                continue
            self.publisher.publish(notifications)
            self.store.done(window)
            metrics.groups_flushed.labels(window.group.rule_id).inc()
            published += 1
            log.info(
                "group %s of rule %s sent: %d match(es) in the window from %s",
                window.group.key or "(whole rule)",
                window.group.rule_id,
                window.count,
                window.start,
            )
        return published

    def _compose(
        self, window: ClaimedWindow, rules: Mapping[str, Rule], now: float
    ) -> list[Notification] | None:
        rule = rules.get(window.group.rule_id)
        spec = spec_for(rule, window.group.mode) if rule is not None else None
        if rule is None or spec is None:
            log.warning(
                "held group %s of rule %s dropped (%d match(es)): the rule is no longer "
                "loaded or grouped",
                window.group.key,
                window.group.rule_id,
                window.count,
            )
            return None
        source = window.source
        return compose_group(
            rule,
            spec,
            GroupWindow(window.count, window.lines, window.fields),
            f"{window.group.mode}\x00{window.group.key}",
            window.start,
            Source(str(source["topic"]), int(str(source["partition"])), int(str(source["offset"]))),
            dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
        )
