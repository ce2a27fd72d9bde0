"""The browser fixtures and the console stack work before the console exists."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page

from alerts.due import DUE_KEY
from contract.redis_replies import texts
from tests.browser.conftest import Screenshot
from tests.browser.console_stack import ACK_RULE, DEAD_RULE, DEADLINE, ConsoleStack
from tests.support.kafka import plate_event
from tests.support.wait import wait_until


def test_chromium_reaches_the_api_health_check(
    console_stack: ConsoleStack, page: Page, screenshot: Screenshot
) -> None:
    """Chromium opens /healthz of the running `klaxon api` and reads "ok"; a PNG is saved."""
    response = page.goto(console_stack.url("/healthz"))
    assert response is not None and response.status == 200
    assert page.inner_text("body").strip() == "ok"
    shot = screenshot(page, "healthz")
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_phone_page_is_a_phone_sized_touch_screen(
    console_stack: ConsoleStack, phone_page: Page, screenshot: Screenshot
) -> None:
    """phone_page is a 390 px touch screen, as the console's phone layout will be tested."""
    phone_page.goto(console_stack.url("/healthz"))
    # A page without <meta name="viewport"> is laid out 980 px wide, as on a real phone.
    assert phone_page.evaluate("screen.width") == 390
    assert phone_page.evaluate("navigator.maxTouchPoints") > 0
    screenshot(phone_page, "healthz-phone")


def test_a_produced_plate_reaches_the_webhook_and_the_active_alerts(
    console_stack: ConsoleStack, page: Page
) -> None:
    """An ACK plate is posted to the sink and its alert is listed by /api/v1/alerts/active."""
    plate = console_stack.ack_plate()
    console_stack.produce(plate_event(plate, camera="cam-gate"))

    (post,) = console_stack.wait_for_hook(plate)
    assert post["rule_id"] == ACK_RULE
    alert_id = post["alert"]["id"]
    assert alert_id in post["message"]
    alert = console_stack.wait_for_active_alert(alert_id)
    assert alert["rule_id"] == ACK_RULE

    # The browser's own request context sees the same, with the read token.
    answer = page.request.get(
        console_stack.url("/api/v1/alerts/active"),
        headers={"Authorization": f"Bearer {console_stack.tokens['read']}"},
    )
    assert answer.ok
    assert alert_id in {a["id"] for a in answer.json()}
    # Without a token the API refuses.
    assert httpx.get(console_stack.url("/api/v1/alerts/active"), timeout=10).status_code == 401


def test_an_acknowledgeable_plate_is_reminded_until_acked_through_the_api(
    console_stack: ConsoleStack,
) -> None:
    """stolen_plate reminds every 2 s; an ack with the write token takes the next reminder."""
    plate = console_stack.ack_plate()
    console_stack.produce(plate_event(plate))
    (match,) = console_stack.wait_for_hook(plate)
    alert_id = match["alert"]["id"]
    console_stack.wait_for_hook(plate, "reminder")

    done = console_stack.api(
        f"/alerts/{alert_id}/ack", "write", "POST", json={"by": "alice", "comment": "on it"}
    )
    assert done["alert_id"] == alert_id
    due = texts(console_stack.redis.zrange(DUE_KEY, 0, -1))
    assert [m for m in due if alert_id in m] == []  # the next reminder is gone
    # The recorder carries the ack into the history the API serves.
    wait_until(
        lambda: any(
            (step["kind"], step["actor"]) == ("ack", "alice")
            for step in console_stack.timeline(alert_id)
        ),
        timeout=DEADLINE,
        message=f"alice's ack in the timeline of {alert_id}",
    )


def test_a_refused_notification_dead_letters_and_a_requeue_is_delivered(
    console_stack: ConsoleStack,
) -> None:
    """ntfy answers 400: a dead letter; once it accepts, a requeue through the API arrives."""
    plate = console_stack.dead_plate()
    console_stack.produce(plate_event(plate))
    letter = console_stack.wait_for_dead_letter(plate)
    assert (letter["rule_id"], letter["channel"], letter["reason"]) == (
        DEAD_RULE,
        "ntfy",
        "client_error",
    )

    console_stack.refusing.accept()
    try:
        console_stack.api(f"/dead-letters/{letter['id']}/requeue", "write", "POST")
        wait_until(
            lambda: any(plate in body["message"] for body in console_stack.refusing.accepted()),
            timeout=DEADLINE,
            message=f"the requeued notification of {plate} accepted",
        )
    finally:
        console_stack.refusing.refuse()
    assert all(plate not in d["message"] for d in console_stack.api("/dead-letters")["items"])
