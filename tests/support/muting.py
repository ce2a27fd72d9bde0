"""The bridge's pipeline with its mute stage, in-process on the real Redis and a test clock."""

from __future__ import annotations

import json
from typing import Any

import redis

from alerts.lifecycle import Lifecycle
from alerts.muting.silences import SilenceMuter, SilenceStore
from alerts.muting.stage import MuteStage
from alerts.stateful_stage import StatefulStage
from alerts.store import AlertStore
from contract.notification import Notification
from ingest.cooldown import Cooldowns
from ingest.decoding import Decoder
from ingest.pipeline import Pipeline
from rules.config import KlaxonConfig
from rules.engine import RuleEngine
from rules.model import BaseRule
from tests.support.fakes import Clock, FakeMessage

TOPIC = "tanks"


class PipelineOnClock:
    """A pipeline built as the bridge builds it, fed fake Kafka messages, on a test clock."""

    def __init__(self, client: redis.Redis, config: KlaxonConfig, clock: Clock) -> None:
        engine = RuleEngine(config.rules)
        self.client = client
        self.config = config
        self.clock = clock
        stateful = StatefulStage(engine.stateful, Lifecycle(client), clock)
        self.silences = SilenceMuter(SilenceStore(client), refresh=0.0)
        muting = MuteStage(
            client, {r.id: r for r in config.rules}, config.inhibit, silences=self.silences
        )
        self.pipeline = Pipeline(
            engine,
            {TOPIC: Decoder(TOPIC, "json")},
            Cooldowns(client),
            stateful,
            clock,
            muting=muting,
        )
        self.offset = 0

    def send(self, **event: Any) -> list[Notification]:
        self.offset += 1
        message = FakeMessage(TOPIC, 0, self.offset, json.dumps(event).encode())
        outcome = self.pipeline.process([message])
        AlertStore(self.client).save([e for e, _ in outcome.alert_events])
        return outcome.notifications

    @property
    def rules(self) -> dict[str, BaseRule]:
        return {r.id: r for r in self.config.rules}
