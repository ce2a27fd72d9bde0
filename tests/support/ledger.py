"""What the channel tests share: an in-memory ledger, a sample notification, settings parsing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from contract.mapping import MappingReader
from contract.notification import Notification, Source
from contract.problems import ConfigProblem, ProblemSink
from tasks.channels.base import ChannelSpec


class MemoryLedger:
    """The RecipientLedger of one notification, kept in a set (the worker's is in Redis)."""

    def __init__(self, *already: str) -> None:
        self.sent: set[str] = set(already)
        self.marks: list[str] = []

    def already_sent(self, recipient: str) -> bool:
        return recipient in self.sent

    def mark_sent(self, recipient: str) -> None:
        self.sent.add(recipient)
        self.marks.append(recipient)


PLATE_EVENT: dict[str, Any] = {
    "event_id": "evt-42",
    "camera_id": "cam-<north>&1",
    "plate": {"normalized_text": "ABC123", "confidence": 0.97},
    "timestamp": "2024-05-01T12:00:00Z",
}


def sample_notification(channel: str = "email", **changes: Any) -> Notification:
    """A rendered watchlist-plate notification as the bridge would enqueue it."""
    base = Notification(
        id="6d1f0a3e-2b7c-5f4e-9a61-0c3d2e1f4a5b",
        channel=channel,
        rule_id="watchlist_plate",
        rule_name="Watchlist Plate Detected",
        priority="high",
        message="Plate ABC123 seen by cam-<north>&1",
        subject="[HIGH] Watchlist Plate Detected: ABC123",
        event=PLATE_EVENT,
        matched_at="2024-05-01T12:00:01Z",
        source=Source(topic="alpr.plates.detected", partition=2, offset=1234),
        variants={
            "html": "Plate ABC123 seen by cam-&lt;north&gt;&amp;1",
            "slack": "Plate ABC123 seen by cam-&lt;north&gt;&amp;1",
        },
    )
    return replace(base, **changes)


def parse_channel_settings(
    spec: ChannelSpec, config: dict[str, Any]
) -> tuple[Any, list[ConfigProblem]]:
    """Read ``notifications.<name>`` as the config loader does: (settings, problems)."""
    sink = ProblemSink("alert_rules.yaml")
    reader = MappingReader(config, f"notifications.{spec.name}", sink)
    reader.raw("enabled")  # the loader reads these keys itself
    reader.raw("retry")
    reader.raw("throttle")
    reader.raw("fallback")
    settings = spec.parse_settings(reader)
    reader.finish()
    return settings, sink.problems


def build_channel(spec: ChannelSpec, config: dict[str, Any]) -> Any:
    """A channel built from ``config``, which must have no problems."""
    settings, problems = parse_channel_settings(spec, config)
    assert [str(p) for p in problems] == []
    return spec.build(settings)
