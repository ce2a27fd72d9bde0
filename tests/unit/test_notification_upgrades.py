"""Rolling upgrades: a task from a newer bridge runs on an older worker, and back."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from contract.fast_publisher import notification_args
from contract.notification import Notification, Source, TransitionKind


def notification(links: dict[str, str] | None = None) -> Notification:
    return Notification(
        id="n-1",
        channel="slack",
        rule_id="r1",
        rule_name="Rule one",
        priority="high",
        message="hot",
        subject="hot",
        event={"t": 1},
        matched_at="2026-01-01T00:00:00+00:00",
        source=Source("events", 0, 7),
        transition=TransitionKind.TRIGGER,
        links=links or {},
    )


# The Notification of a worker from before links: the same fields without ``links``, and
# its from_dict, which passed every key to the constructor.
_BEFORE_LINKS = dataclasses.make_dataclass(
    "NotificationBeforeLinks",
    [(f.name, Any, f) for f in dataclasses.fields(Notification) if f.name != "links"],
)


def old_worker_decodes(payload: dict[str, Any]) -> object:
    values = dict(payload)
    values["source"] = Source(**values["source"])
    return _BEFORE_LINKS(**values)


def test_a_notification_without_links_is_written_as_before_links() -> None:
    """No ``links`` key when there are none: an older worker decodes the task."""
    item = notification()
    for payload in (item.to_dict(), notification_args(item)):
        assert "links" not in payload
        old_worker_decodes(json.loads(json.dumps(payload)))
    assert json.dumps(notification_args(item)) == json.dumps(item.to_dict())


def test_links_are_written_when_there_are_some() -> None:
    """A notification with links carries them, and reads back the same."""
    item = notification({"ack": "https://k/ack/t", "silence": "https://k/silence-link/s"})
    payload = item.to_dict()
    assert payload["links"] == item.links
    assert notification_args(item) == payload
    assert Notification.from_dict(json.loads(json.dumps(payload))) == item


def test_a_payload_without_links_decodes_with_none() -> None:
    """A task from an older bridge (no ``links`` key) decodes with empty links."""
    item = Notification.from_dict(json.loads(json.dumps(notification().to_dict())))
    assert item.links == {}


def test_keys_from_a_newer_bridge_are_dropped() -> None:
    """A field this version does not know is ignored, not a failed task."""
    payload = json.loads(json.dumps(notification({"ack": "https://k/ack/t"}).to_dict()))
    payload["added_in_a_later_version"] = {"x": 1}
    assert Notification.from_dict(payload) == notification({"ack": "https://k/ack/t"})
