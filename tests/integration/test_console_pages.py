"""The console's silences, dead letters, deliveries, history and rules pages, in-process on
real Redis and a real SQLite history (tests/browser drives them in Chromium)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.acks import AckBook
from alerts.muting.silences import SilenceMuter, SilenceStore
from alerts.store import AlertEvent, AlertStore
from contract import outbox
from contract.notification import Notification, Source, TransitionKind
from contract.outbox import AttemptOutcome, NotificationStatus
from contract.reloads import ReloadResult, record_reload
from klaxon.console.live_alerts import event_of
from rules.compose import compose
from rules.config import load_config
from tasks.deadletters import DeadLetter, DeadLetterStore
from tests.support.console import (
    ALERT,
    HOTLIST,
    WEBHOOK,
    console_app,
    csrf_of,
    open_hit,
    signed_in,
)
from tests.support.history import record_outbox
from tests.support.links import TOKENS, with_links

OTHER = "5b7e2c1a-0000-4000-8000-000000000002"
# What only a write user may press: none of these may reach a read user's page.
STATE_CHANGING = ("expire", "create-silence", "requeue", "requeue-all", "purge")
_MATCHERS = re.compile(r'<textarea name="matchers"[^>]*>([^<]*)</textarea>')


@pytest.fixture
def rules(write_config: Callable[..., Path]) -> Path:
    return write_config(WEBHOOK, [HOTLIST])


@pytest.fixture
def app(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str, rules: Path
) -> Iterator[FastAPI]:
    with console_app(tmp_path, redis_client, redis_url, rules) as app:
        yield app


def letter(letter_id: str, channel: str = "webhook", error: str = "answered 400") -> DeadLetter:
    return DeadLetter(
        id=letter_id, rule_id="hotlist", channel=channel, recipients_left=[], message="seen gate-2",
        error=error, reason="client_error", attempts=3, first_failure_at=1_700_000_000.0,
        last_failure_at=1_700_000_060.0,
        notification={"id": letter_id, "channel": channel, "message": "seen gate-2"},
    )  # fmt: skip


def _linked_letter(letter_id: str) -> DeadLetter:
    return with_links(letter(letter_id))


def record_deliveries(client: redis.Redis, app: FastAPI, count: int = 1) -> None:
    """Notification n1 (an alert's, sent at the second try), and ``count - 1`` queued ones."""
    records = [outbox.notification_queued("n1", "hotlist", "webhook", [], "match", ALERT, at=10.0)]
    for number, final in enumerate((False, True)):
        records.append(outbox.attempt("n1", f"t{number}", AttemptOutcome.STARTED, at=11.0))
        records.append(
            outbox.attempt(
                "n1",
                f"t{number}",
                AttemptOutcome.SENT if final else AttemptOutcome.FAILED,
                status=NotificationStatus.SENT if final else NotificationStatus.RETRYING,
                error="" if final else "answered 503",
                reason="" if final else "server_error",
                at=12.0 + number,
            )
        )
    records += [
        outbox.notification_queued(f"q{i}", "other", "slack", [], "match", None, at=20.0 + i)
        for i in range(count - 1)
    ]
    outbox.append_batch(client, records)
    record_outbox(client, app.state.database_url)


def record_alerts(client: redis.Redis, app: FastAPI) -> None:
    """Two alerts in the history: tank-1's resolved, tank-2's still firing."""
    for alert_id, device, resolved in (("h-old", "tank-1", True), ("h-new", "tank-2", False)):
        event = {
            "id": alert_id, "rule_id": "temp_high", "device_id": device, "kind": "threshold",
            "metric": "temperature", "operator": ">", "threshold_value": 82.0,
            "current_value": 82.5, "triggered_at": 100.0 if resolved else 200.0,
            "is_resolved": resolved, "resolved_at": 400.0 if resolved else None,
            "resolution_value": None, "metadata": {"rule_name": "Tank too hot"},
        }  # fmt: skip
        outbox.append(client, outbox.alert_event(event, "resolve" if resolved else "trigger"))
    record_outbox(client, app.state.database_url)


def flash_after(client: TestClient, reply: object) -> str:
    location = reply.headers["location"]  # type: ignore[attr-defined]
    return unescape(client.get(location).text)


def prefilled(client: TestClient, alert_id: str) -> str:
    found = _MATCHERS.search(client.get(f"/silences/new?alert_id={alert_id}").text)
    assert found, "the form has no matchers textarea"
    return unescape(found.group(1))


# --- every page, read and write ---------------------------------------------------------


def test_every_page_shows_its_data_to_a_read_user_without_a_state_changing_button(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """Silences, dead letters, deliveries, history, rules: data shown, no write buttons."""
    open_hit(redis_client)
    silence = SilenceStore(redis_client).add(["rule_id=hotlist"], 3600, "maintenance", "ana")
    DeadLetterStore(redis_client).add(letter("d1"))
    record_deliveries(redis_client, app)
    record_alerts(redis_client, app)
    expected = {
        "/silences": f'data-silence-id="{silence.id}"',
        "/silences/new": 'data-action="preview"',
        f"/silences/new?alert_id={ALERT}": f'data-alert-id="{ALERT}"',
        "/dead-letters": 'data-letter-id="d1"',
        "/dead-letters/d1": "answered 400",
        "/deliveries": 'data-notification-id="n1"',
        "/deliveries/n1": 'data-attempt-id="t1"',
        "/history": 'data-alert-id="h-new"',
        "/rules": 'data-rule-id="hotlist"',
    }
    reader, writer = signed_in(app, "rob"), signed_in(app, "alice")
    for path, shown in expected.items():
        page = reader.get(path)
        assert page.status_code == 200, (path, page.text)
        assert shown in page.text, path
        for action in STATE_CHANGING:
            assert f'data-action="{action}"' not in page.text, (path, action)
    assert 'data-action="expire"' in writer.get("/silences").text
    assert 'data-action="requeue-all"' in writer.get("/dead-letters").text
    assert 'data-action="purge"' in writer.get("/dead-letters/d1").text
    assert 'data-action="create-silence"' in writer.get("/silences/new").text


def test_dead_letter_pages_show_no_link_tokens(app: FastAPI, redis_client: redis.Redis) -> None:
    """The list and the letter page show where a link pointed, never its token."""
    DeadLetterStore(redis_client).add(_linked_letter("d1"))
    reader = signed_in(app, "rob")
    for path in ("/dead-letters", "/dead-letters/d1"):
        page = reader.get(path)
        assert page.status_code == 200, (path, page.text)
        assert not [token for token in TOKENS if token in page.text], path
    assert "https://klaxon.example.com/silence-link/\u2026" in unescape(
        reader.get("/dead-letters/d1").text
    )


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/silences", {"matchers": "rule_id=hotlist", "duration": "1h"}),
        ("/silences/{silence}/expire", {}),
        ("/dead-letters/d1/requeue", {}),
        ("/dead-letters/requeue", {"channel": "webhook"}),
        ("/dead-letters/d1/purge", {}),
    ],
)
def test_each_post_is_refused_to_a_read_user_and_without_csrf(
    app: FastAPI, redis_client: redis.Redis, path: str, data: dict[str, str]
) -> None:
    """403 for a read user with a valid token, and for a write user without one; no change."""
    silences, letters = SilenceStore(redis_client), DeadLetterStore(redis_client)
    silence = silences.add(["rule_id=hotlist"], 3600)
    letters.add(letter("d1"))
    target = path.format(silence=silence.id)
    reader, writer = signed_in(app, "rob"), signed_in(app, "alice")
    as_reader = reader.post(target, data={**data, "csrf": csrf_of(reader.get("/silences").text)})
    assert as_reader.status_code == 403 and "read role" in as_reader.text
    for csrf in ({}, {"csrf": "forged"}):
        forged = writer.post(target, data={**data, **csrf})
        assert forged.status_code == 403 and "CSRF" in forged.text
    assert [s.id for s in silences.all()] == [silence.id]
    assert silences.get(silence.id).state(time.time()) == "active"  # type: ignore[union-attr]
    assert letters.get("d1") is not None
    assert redis_client.llen("notify.webhook") == 0


# --- silences -------------------------------------------------------------------------


def test_a_write_user_creates_a_silence_and_expires_it(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """Create posts to /silences and comes back to the list; Expire ends it now."""
    client = signed_in(app, "alice")
    csrf = csrf_of(client.get("/silences/new").text)
    form = {"matchers": " rule_id=hotlist \n\ncamera_id=~gate-.*\n", "duration": "2h", "csrf": csrf}
    created = client.post("/silences", data={**form, "comment": "roadworks"})
    assert (created.status_code, created.headers["location"]) == (303, "/silences")
    (silence,) = SilenceStore(redis_client).all()
    assert silence.matchers == ("rule_id=hotlist", "camera_id=~gate-.*")
    assert (silence.created_by, silence.comment) == ("alice", "roadworks")
    assert silence.ends_at - silence.starts_at == 7200
    assert f"Silence {silence.id} created for 2h" in flash_after(client, created)

    expired = client.post(f"/silences/{silence.id}/expire", data={"csrf": csrf})
    assert expired.status_code == 303
    assert SilenceStore(redis_client).get(silence.id).state(time.time()) == "expired"  # type: ignore[union-attr]
    listed = flash_after(client, expired)
    assert f"Silence {silence.id} expired." in listed
    assert f'data-silence-id="{silence.id}"' not in listed  # expired ones are hidden
    assert f'data-silence-id="{silence.id}"' in client.get("/silences?expired=true").text
    missing = client.post("/silences/nope/expire", data={"csrf": csrf})
    assert missing.status_code == 404 and "No such silence" in missing.text


def test_bad_matcher_lines_and_a_bad_duration_are_named_with_422(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """Each bad line by number, the duration by value; the form keeps what was typed."""
    client = signed_in(app, "alice")
    csrf = csrf_of(client.get("/silences/new").text)
    form = {"matchers": "rule_id=hotlist\ncamera_id=~gate-(\nno operator", "duration": "2x"}
    for path in ("/silences", "/silences/preview"):
        reply = client.post(path, data={**form, "csrf": csrf})
        assert reply.status_code == 422
        text = unescape(reply.text)
        assert 'Line 2: bad matcher "camera_id=~gate-(": invalid regex' in text
        assert 'Line 3: bad matcher "no operator"' in text
        assert "Line 1" not in text
        assert "Duration '2x':" in text
        assert "camera_id=~gate-(" in _MATCHERS.search(reply.text).group(1)  # type: ignore[union-attr]
    too_long = client.post(
        "/silences", data={"matchers": "rule_id=x", "duration": "400d", "csrf": csrf}
    )
    assert too_long.status_code == 422 and "at most 31622400s" in too_long.text
    assert SilenceStore(redis_client).all() == []


def test_preview_lists_the_matching_active_alert_and_not_another(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """A read user previews: the matchers see the alert's rule, priority and event."""
    open_hit(redis_client, ALERT, plate="ABC123")
    open_hit(redis_client, OTHER, plate="XYZ999")
    client = signed_in(app, "rob")
    csrf = csrf_of(client.get("/silences/new").text)
    matchers = "rule_id=hotlist\npriority=high\nplate.normalized_text=~ABC.*"
    reply = client.post(
        "/silences/preview", data={"matchers": matchers, "duration": "1h", "csrf": csrf}
    )
    assert reply.status_code == 200
    assert f'data-alert-id="{ALERT}"' in reply.text
    assert f'data-alert-id="{OTHER}"' not in reply.text
    assert SilenceStore(redis_client).all() == []  # a preview stores nothing
    none = client.post(
        "/silences/preview", data={"matchers": "rule_id=other", "duration": "1h", "csrf": csrf}
    )
    assert 'data-testid="preview-none"' in none.text


def test_a_silence_prefilled_for_a_hit_mutes_its_next_notification_only(
    app: FastAPI, redis_client: redis.Redis, rules: Path
) -> None:
    """?alert_id= fills the rule and the plate; created, it mutes that hit's reminder (built
    as alerts.followups builds it, from the ack record's event) and not another plate's."""
    open_hit(redis_client, ALERT, plate="ABC123")
    open_hit(redis_client, OTHER, plate="XYZ999")
    client = signed_in(app, "alice")
    matchers = prefilled(client, ALERT)
    assert matchers.splitlines() == ["rule_id=hotlist", "plate.normalized_text=ABC123"]
    page = client.get(f"/silences/new?alert_id={ALERT}")
    assert f'data-alert-id="{ALERT}"' in page.text and f'data-alert-id="{OTHER}"' not in page.text
    assert 'value="1h"' in page.text
    created = client.post(
        "/silences", data={"matchers": matchers, "duration": "1h", "csrf": csrf_of(page.text)}
    )
    assert created.status_code == 303

    muter = SilenceMuter(SilenceStore(redis_client))
    now = time.time()
    muted = muter.mutes(reminder(redis_client, rules, ALERT), now)
    assert muted is not None and "plate.normalized_text=ABC123" in muted.reason
    assert muter.mutes(reminder(redis_client, rules, OTHER), now) is None


def reminder(client: redis.Redis, rules: Path, alert_id: str) -> Notification:
    """A hit's next notification, as alerts.followups renders a reminder."""
    (rule,) = load_config(rules, default_topic="plates").rules
    (fields,) = AckBook(client).fields_of([alert_id])
    (notification,) = compose(
        rule,
        rule.message_template,
        event_of(fields),
        Source(f"klaxon.reminder/{alert_id}", 0, 1),
        dt.datetime.now(dt.UTC).isoformat(),
        transition=TransitionKind.REMINDER,
        values={"alert_id": alert_id, "reminder": 1},
        alert={"id": alert_id},
    )
    return notification


def test_prefill_for_a_device_alert_matches_its_device_id(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """A threshold alert (its rule keyed on device_id) gets device_id=<its device>."""
    AlertStore(redis_client).save(
        [
            AlertEvent(
                id="t-1", rule_id="temp_high", device_id="tank-1", triggered_at=1.0,
                current_value=83.0, threshold_value=82.0, operator=">", metric="temperature",
            )
        ]
    )  # fmt: skip
    matchers = prefilled(signed_in(app, "rob"), "t-1")
    assert matchers.splitlines() == ["rule_id=temp_high", "device_id=tank-1"]
    missing = signed_in(app, "rob").get("/silences/new?alert_id=nope")
    assert missing.status_code == 404


# --- dead letters ---------------------------------------------------------------------


def test_requeue_puts_a_dead_letter_back_on_its_queue(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """The task is published again under its own id, and the dead letter is gone."""
    store = DeadLetterStore(redis_client)
    store.add(letter("d1"))
    client = signed_in(app, "alice")
    csrf = csrf_of(client.get("/dead-letters").text)
    done = client.post("/dead-letters/d1/requeue", data={"csrf": csrf})
    assert done.status_code == 303
    assert store.get("d1") is None
    (message,) = redis_client.lrange("notify.webhook", 0, -1)
    assert json.loads(message)["headers"]["id"] == "d1"
    assert "Requeued d1" in flash_after(client, done)
    again = client.post("/dead-letters/d1/requeue", data={"csrf": csrf})
    assert again.status_code == 404 and "No such dead letter" in again.text


def test_requeue_all_of_a_channel_requeues_that_channels_only(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """Two webhook letters go back on notify.webhook; the slack one stays dead."""
    store = DeadLetterStore(redis_client)
    for letter_id, channel in (("w1", "webhook"), ("w2", "webhook"), ("s1", "slack")):
        store.add(letter(letter_id, channel))
    client = signed_in(app, "alice")
    page = client.get("/dead-letters?channel=webhook")
    assert page.text.count("data-letter-id=") == 2
    done = client.post(
        "/dead-letters/requeue", data={"channel": "webhook", "csrf": csrf_of(page.text)}
    )
    assert done.status_code == 303
    assert "Requeued 2 dead letter(s) of channel webhook." in flash_after(client, done)
    assert redis_client.llen("notify.webhook") == 2
    assert redis_client.llen("notify.slack") == 0
    assert [d.id for d in store] == ["s1"]


def test_purge_removes_a_dead_letter(app: FastAPI, redis_client: redis.Redis) -> None:
    """Purge deletes the record and sends nothing."""
    store = DeadLetterStore(redis_client)
    store.add(letter("d1"))
    client = signed_in(app, "alice")
    done = client.post("/dead-letters/d1/purge", data={"csrf": csrf_of(client.get("/").text)})
    assert done.status_code == 303 and "Purged d1" in flash_after(client, done)
    assert store.get("d1") is None and redis_client.llen("notify.webhook") == 0


def test_a_dead_letter_shows_its_payload_with_known_secrets_masked(
    app: FastAPI, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error and payload are shown in full, less any secret this process knows."""
    monkeypatch.setenv("KLAXON_WEBHOOK_TOKEN", "s3cr3t-token-value-123")
    DeadLetterStore(redis_client).add(
        letter("d1", error="answered 401 for token s3cr3t-token-value-123")
    )
    page = signed_in(app, "rob").get("/dead-letters/d1")
    assert page.status_code == 200
    assert "s3cr3t-token-value-123" not in page.text and "answered 401 for token ***" in page.text
    assert "&#34;message&#34;: &#34;seen gate-2&#34;" in page.text  # pretty-printed JSON
    assert signed_in(app, "rob").get("/dead-letters/nope").status_code == 404


# --- deliveries and history -----------------------------------------------------------


def test_deliveries_filter_page_by_cursor_and_show_every_attempt(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    """Newest first, 50 a page with a link to the next; one notification's attempts."""
    record_deliveries(redis_client, app, count=52)
    client = signed_in(app, "rob")
    first = client.get("/deliveries")
    assert first.text.count("data-notification-id=") == 50
    assert 'data-notification-id="q50"' in first.text  # the newest
    next_url = unescape(re.search(r'href="([^"]+)"[^>]*data-action="next-page"', first.text)[1])  # type: ignore[index]
    second = client.get(next_url)
    assert second.text.count("data-notification-id=") == 2
    assert (
        'data-notification-id="n1"' in second.text and 'data-action="next-page"' not in second.text
    )
    sent = client.get("/deliveries?status=sent&channel=webhook")
    assert sent.text.count("data-notification-id=") == 1
    assert 'data-channel="webhook"' in sent.text and "sent 1" in sent.text  # the summary
    by_alert = client.get(f"/deliveries?alert_id={ALERT}")
    assert by_alert.text.count("data-notification-id=") == 1
    detail = client.get("/deliveries/n1")
    assert detail.text.count("data-attempt-id=") == 2
    assert "answered 503" in detail.text and f'href="/alerts/{ALERT}"' in detail.text
    assert client.get("/deliveries?status=lost").status_code == 422
    assert client.get("/deliveries?cursor=bogus").status_code == 400
    assert client.get("/deliveries/nope").status_code == 404


def test_history_filters_and_links_each_alert(app: FastAPI, redis_client: redis.Redis) -> None:
    """Newest first, each row links to its alert; resolved, device and within filter."""
    record_alerts(redis_client, app)
    client = signed_in(app, "rob")
    everything = client.get("/history")
    assert everything.text.index("h-new") < everything.text.index("h-old")  # newest first
    assert 'href="/alerts/h-old"' in everything.text
    resolved = client.get("/history?resolved=yes")
    assert 'data-alert-id="h-old"' in resolved.text and "h-new" not in resolved.text
    assert "h-old" not in client.get("/history?device_id=tank-2").text
    # Both were triggered in 1970: none within the last hour.
    assert 'data-testid="no-history"' in client.get("/history?within=1h").text
    bad = client.get("/history?within=soon")
    assert bad.status_code == 422 and "Within &#39;soon&#39;" in bad.text


# --- rules ----------------------------------------------------------------------------


def test_rules_page_shows_the_file_and_the_last_reload(
    app: FastAPI, redis_client: redis.Redis, rules: Path
) -> None:
    """Valid, its rules; then a refused reload with its reason; then a broken file."""
    client = signed_in(app, "rob")
    page = client.get("/rules")
    assert "valid" in page.text and 'data-testid="no-reload"' in page.text
    record_reload(
        redis_client,
        ReloadResult(at=time.time(), ok=False, rules=0, error="rules[0].notify: pager?"),
    )
    refused = client.get("/rules")
    assert (
        'data-testid="reload-failed"' in refused.text and "rules[0].notify: pager?" in refused.text
    )
    rules.write_text(
        rules.read_text().replace("webhook]", "pager]").replace("- webhook", "- pager")
    )
    broken = client.get("/rules")
    assert "invalid" in broken.text and 'data-testid="problems"' in broken.text
    assert "pager" in broken.text
