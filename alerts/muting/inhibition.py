"""Inhibition: while a source alert fires, target notifications that share its labels wait.

The bridge tracks which stateful alerts fire that some ``inhibit:`` rule could use as a
source, with the labels that rule compares, in one Redis hash; it reads the hash once a
batch to decide the targets:

    klaxon:inhibit:firing   hash   alert id -> JSON {"rule_id", "labels": {name: text}}

An alert is tracked from its trigger (silenced or not: a muted source still explains its
targets) to its resolve. An alert never inhibits itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis

from alerts.muting.muter import Muted, Status, alert_id_of, subject_of
from alerts.stateful_stage import AnyChange
from contract.notification import Notification, TransitionKind
from contract.redis_replies import text_fields
from rules.inhibit import InhibitRule
from rules.matchers import Subject, all_match

FIRING_KEY = "klaxon:inhibit:firing"
_ENDS = (TransitionKind.RESOLVE, TransitionKind.NO_DATA_RESOLVE)


@dataclass(frozen=True)
class FiringSource:
    alert_id: str
    rule_id: str
    labels: Mapping[str, str | None]

    def label(self, name: str) -> str | None:
        return self.labels.get(name)


class Inhibitor:
    def __init__(self, client: redis.Redis, rules: Sequence[InhibitRule]) -> None:
        self.client = client
        self.rules = tuple(rules)
        self._names = tuple(dict.fromkeys(n for r in self.rules for n in r.index_labels))
        self._firing: list[FiringSource] = []

    def track(self, changes: Sequence[AnyChange]) -> None:
        """Record the sources that triggered in this batch and forget those that resolved."""
        if not self.rules or not changes:
            return
        pipe = self.client.pipeline(transaction=False)
        for change in changes:
            kind, alert_id = change.transition.kind, change.transition.alert_id
            if kind in _ENDS:
                pipe.hdel(FIRING_KEY, alert_id)
                continue
            if kind != TransitionKind.TRIGGER:
                continue
            rule = change.rule
            source = Subject(rule.id, rule.priority, "", change.decoded.event)
            if any(all_match(r.source, source) for r in self.rules):
                labels = {name: source.label(name) for name in self._names}
                pipe.hset(FIRING_KEY, alert_id, json.dumps({"rule_id": rule.id, "labels": labels}))
        pipe.execute()

    def load(self) -> None:
        """Read the firing sources once for the notifications of a batch."""
        if not self.rules:
            self._firing = []
            return
        raw = text_fields(self.client.hgetall(FIRING_KEY))
        firing = []
        for alert_id, text in raw.items():
            data = json.loads(text)
            firing.append(FiringSource(alert_id, data["rule_id"], data["labels"]))
        self._firing = firing

    def mutes(self, notification: Notification, now: float) -> Muted | None:
        if not self._firing:
            return None
        target = subject_of(notification)
        own = alert_id_of(notification)
        for rule in self.rules:
            if not all_match(rule.target, target):
                continue
            for source in self._firing:
                if source.alert_id == own or not all_match(rule.source, source):
                    continue
                if all(source.label(name) == target.label(name) for name in rule.equal):
                    return Muted(
                        Status.INHIBITED,
                        source.alert_id,
                        f"inhibited by alert {source.alert_id} of rule {source.rule_id}",
                    )
        return None
