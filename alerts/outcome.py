"""Where the alerts of a batch go once their lifecycle moved: the store, then the topic.

The bridge (after a batch) and the no-data sweep (after a sweep) both call this, so an
alert event is recorded the same way whichever process raised it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alerts.events_topic import AlertEventTopic
from alerts.store import AlertEvent, AlertStore
from contract import outbox
from contract.notification import TransitionKind


def record_alerts(
    store: AlertStore,
    topic: AlertEventTopic | None,
    events: Sequence[tuple[AlertEvent, TransitionKind]],
) -> None:
    """Save the alert records in Redis, then publish them on Kafka and wait for the broker.

    Runs before the caller commits (the bridge) or returns (the sweep): a crash replays,
    and consumers of the topic key on (id, transition), so a replay is harmless.
    """
    if not events:
        return
    store.save([event for event, _ in events])
    # The history's copy goes through the outbox (the recorder writes it to SQL).
    outbox.append_batch(
        store.client,
        [outbox.alert_event(event.as_json_object(), str(kind)) for event, kind in events],
    )
    if topic is not None:
        topic.publish(events)
        topic.flush()
