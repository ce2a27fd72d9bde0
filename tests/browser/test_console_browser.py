"""The console in Chromium against the running stack: sign in, see, ack, and be refused.

Each test makes plates of its own (the stack is shared by the module); screenshots of each
page are saved under the pytest temporary directory (and KLAXON_SCREENSHOTS_DIR if set).
"""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from alerts.due import DUE_KEY
from contract.ack_links import LinkAction, LinkSigner
from contract.redis_replies import texts
from tests.browser.conftest import Screenshot
from tests.browser.console_stack import ACK_RULE, DEADLINE, ConsoleStack
from tests.support.kafka import plate_event
from tests.support.wait import wait_until

# Longer than the page's 5 s refresh, with room for a loaded machine.
SEEN = 30_000


def sign_in(page: Page, stack: ConsoleStack, user: str, path: str = "/") -> None:
    page.goto(stack.url(path))
    expect(page).to_have_url(f"{stack.base_url}/login?next={path}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", stack.users[user].password)
    page.click("button:has-text('Sign in')")
    expect(page.get_by_test_id("who")).to_contain_text(user)


def fire(stack: ConsoleStack, camera: str = "cam-gate") -> tuple[str, str]:
    """Produce an acknowledgeable plate; its plate and alert id once the sink has it."""
    plate = stack.ack_plate()
    stack.produce(plate_event(plate, camera=camera))
    (post,) = stack.wait_for_hook(plate)
    return plate, str(post["alert"]["id"])


def test_sign_in_see_the_alert_firing_ack_it_and_its_reminders_stop(
    console_stack: ConsoleStack, page: Page, screenshot: Screenshot
) -> None:
    plate, alert_id = fire(console_stack)
    # A second alert, left alone, is the clock: its reminders keep coming.
    control, _ = fire(console_stack)
    sign_in(page, console_stack, "alice")
    row = page.locator(f"tr[data-alert-id='{alert_id}']")
    expect(row).to_be_visible(timeout=SEEN)
    expect(row).to_contain_text(plate)
    expect(row.get_by_test_id("state")).to_have_text("open")
    screenshot(page, "firing")
    console_stack.wait_for_hook(plate, "reminder")  # it is being reminded, every 2 s

    row.locator("button[data-action=ack]").click()
    expect(page.locator(".flash")).to_contain_text(f"Acknowledged {alert_id[:8]}")
    # A hit closes on ack: it leaves the firing list, and no reminder is due any more.
    expect(page.locator(f"tr[data-alert-id='{alert_id}']")).to_have_count(0)
    assert not [m for m in texts(console_stack.redis.zrange(DUE_KEY, 0, -1)) if alert_id in m]

    # A reminder the sweep sent just before the ack may still be on its way: count after
    # the control alert's next reminder, then see two more of the control's and none more
    # of the acked one's.
    def control_reminders() -> int:
        return len(console_stack.hook_posts(control, "reminder"))

    console_stack.wait_for_hook(control, "reminder", control_reminders() + 1)
    reminded = len(console_stack.hook_posts(plate, "reminder"))
    console_stack.wait_for_hook(control, "reminder", control_reminders() + 2)
    assert len(console_stack.hook_posts(plate, "reminder")) == reminded

    page.goto(console_stack.url(f"/alerts/{alert_id}"))
    expect(page.get_by_test_id("state")).to_contain_text("acknowledged by alice")
    expect(page.get_by_test_id("timeline")).to_contain_text("ack", timeout=SEEN)
    screenshot(page, "alert")


def test_a_new_alert_appears_without_reloading_the_page(
    console_stack: ConsoleStack, page: Page
) -> None:
    sign_in(page, console_stack, "rob")
    page.evaluate("window.__marker = 'same page'")
    _, alert_id = fire(console_stack)
    expect(page.locator(f"tr[data-alert-id='{alert_id}']")).to_be_visible(timeout=SEEN)
    assert page.evaluate("window.__marker") == "same page"  # refreshed in place, not reloaded


def test_read_user_has_no_ack_button_and_a_forged_post_gets_403(
    console_stack: ConsoleStack, page: Page, screenshot: Screenshot
) -> None:
    _, alert_id = fire(console_stack)
    sign_in(page, console_stack, "rob")
    row = page.locator(f"tr[data-alert-id='{alert_id}']")
    expect(row).to_be_visible(timeout=SEEN)
    expect(page.locator("button[data-action]")).to_have_count(0)
    csrf = page.locator("input[name=csrf]").first.input_value()  # the sign-out form's
    forged = page.request.post(
        console_stack.url(f"/alerts/{alert_id}/ack"), form={"csrf": csrf}, max_redirects=0
    )
    assert forged.status == 403
    assert "read role" in forged.text()
    expect(row.get_by_test_id("state")).to_have_text("open")


def test_a_form_posted_without_its_csrf_token_gets_403(
    console_stack: ConsoleStack, page: Page, screenshot: Screenshot
) -> None:
    _, alert_id = fire(console_stack)
    sign_in(page, console_stack, "alice")
    row = page.locator(f"tr[data-alert-id='{alert_id}']")
    expect(row).to_be_visible(timeout=SEEN)
    # The same button, its form's token taken out: the server refuses, the page says why.
    row.locator("form[action$='/ack'] input[name=csrf]").evaluate("e => e.remove()")
    row.locator("button[data-action=ack]").click()
    expect(page.get_by_test_id("error")).to_contain_text("CSRF")
    screenshot(page, "csrf-refused")
    page.goto(console_stack.url("/"))
    expect(page.locator(f"tr[data-alert-id='{alert_id}'] [data-testid=state]")).to_have_text("open")


def test_the_firing_page_reads_on_a_phone(
    console_stack: ConsoleStack, phone_page: Page, screenshot: Screenshot
) -> None:
    _, alert_id = fire(console_stack)
    sign_in(phone_page, console_stack, "alice")
    row = phone_page.locator(f"tr[data-alert-id='{alert_id}']")
    expect(row).to_be_visible(timeout=SEEN)
    # Rows are cards: nothing wider than the screen, the ack button within reach.
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    box = row.locator("button[data-action=ack]").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    screenshot(phone_page, "firing-phone")


def test_a_silence_made_from_the_alert_page_silences_the_next_match(
    console_stack: ConsoleStack, page: Page, screenshot: Screenshot
) -> None:
    plate, alert_id = fire(console_stack)
    sign_in(page, console_stack, "alice", f"/alerts/{alert_id}")
    page.click("a[data-action=silence]")
    matchers = page.locator("textarea[name=matchers]")
    expect(matchers).to_contain_text(f"rule_id={ACK_RULE}")
    expect(matchers).to_contain_text(plate)
    expect(page.locator(f"[data-testid=preview] tr[data-alert-id='{alert_id}']")).to_be_visible()
    page.fill("input[name=comment]", "plate reported found")
    screenshot(page, "silence-new")
    page.click("button[data-action=create-silence]")
    expect(page.locator(".flash")).to_contain_text(f"created for 1h: rule_id={ACK_RULE}")
    screenshot(page, "silences")

    # The same plate again, then another: once the other is delivered, the bridge has
    # handled the first (same camera, same partition, in order), and it was silenced.
    console_stack.produce(plate_event(plate, camera="cam-gate"))
    fire(console_stack)
    assert len(console_stack.hook_posts(plate, "match")) == 1
    # Its reminders are silenced too; the new match is the one with transition "match".
    matches = wait_until(
        lambda: (
            [
                n
                for n in console_stack.api(f"/notifications?rule_id={ACK_RULE}&status=silenced")[
                    "items"
                ]
                if n["transition"] == "match"
            ]
            or None
        ),
        timeout=DEADLINE,
        message="a silenced match in the history",
    )
    assert len(matches) == 1


def test_requeue_a_dead_letter_and_see_it_delivered(
    console_stack: ConsoleStack, page: Page, screenshot: Screenshot
) -> None:
    plate = console_stack.dead_plate()
    console_stack.refusing.refuse()
    console_stack.produce(plate_event(plate, camera="cam-dock"))
    letter = console_stack.wait_for_dead_letter(plate)
    sign_in(page, console_stack, "alice", "/dead-letters")
    row = page.locator(f"tr[data-letter-id='{letter['id']}']")
    expect(row).to_be_visible(timeout=SEEN)
    screenshot(page, "dead-letters")

    console_stack.refusing.accept()  # the provider is back
    row.locator("button[data-action=requeue]").click()
    expect(page.locator(".flash")).to_contain_text("equeued")
    wait_until(
        lambda: [p for p in console_stack.refusing.accepted() if plate in str(p)] or None,
        timeout=DEADLINE,
        message=f"{plate} delivered after the requeue",
    )
    expect(page.locator(f"tr[data-letter-id='{letter['id']}']")).to_have_count(0, timeout=SEEN)

    page.goto(console_stack.url("/deliveries?channel=ntfy"))
    # Requeued under its own id: the same notification, now sent.
    expect(page.locator(f"tr[data-notification-id='{letter['id']}']")).to_contain_text(
        "sent", timeout=SEEN
    )
    screenshot(page, "deliveries")


def test_every_page_renders_for_a_read_user(
    console_stack: ConsoleStack, page: Page, screenshot: Screenshot
) -> None:
    # Something on every page that has buttons for a write user: an alert, a dead letter.
    _, alert_id = fire(console_stack)
    plate = console_stack.dead_plate()
    console_stack.refusing.refuse()
    console_stack.produce(plate_event(plate, camera="cam-dock"))
    letter = console_stack.wait_for_dead_letter(plate)
    sign_in(page, console_stack, "rob")
    for path, name in (
        ("/", "firing-read"),
        (f"/alerts/{alert_id}", "alert-read"),
        ("/dead-letters", "dead-letters-read"),
        (f"/dead-letters/{letter['id']}", "dead-letter-read"),
        ("/history", "history"),
        ("/silences", "silences-read"),
        ("/rules", "rules"),
        ("/deliveries", "deliveries-read"),
    ):
        response = page.goto(console_stack.url(path))
        assert response is not None and response.status == 200, path
        expect(page.locator("h1")).to_be_visible()
        expect(page.locator("button[data-action]:not([data-action=preview])")).to_have_count(0)
        screenshot(page, name)


def test_the_ack_link_in_a_notification_acks_once_then_is_refused(
    console_stack: ConsoleStack, page: Page, screenshot: Screenshot
) -> None:
    plate = console_stack.ack_plate()
    console_stack.produce(plate_event(plate, camera="cam-gate"))
    (post,) = console_stack.wait_for_hook(plate)
    ack_url = post["links"]["ack"]
    assert ack_url.startswith(f"{console_stack.base_url}/ack/")
    assert post["message"].endswith(f" ack: {ack_url}")  # the template's {ack_url}

    page.goto(ack_url)  # no sign-in: the link is its own authority
    expect(page.get_by_test_id("ack-link")).to_contain_text(plate)
    screenshot(page, "ack-link")
    page.fill("input[name=name]", "Dana")
    page.click("button[data-action=ack-link]")
    expect(page.get_by_test_id("link-done")).to_contain_text("acknowledged by Dana (ack link)")
    alert_id = post["alert"]["id"]
    record = console_stack.api(f"/alerts/{alert_id}")
    assert record["alert"]["id"] == alert_id

    reused = page.goto(ack_url)
    assert reused is not None and reused.status == 410
    expect(page.get_by_test_id("error")).to_contain_text("This link was already used")
    screenshot(page, "ack-link-used")


def test_an_expired_ack_link_is_refused_with_a_readable_page(
    console_stack: ConsoleStack, page: Page, screenshot: Screenshot
) -> None:
    _, alert_id = fire(console_stack)
    yesterday = time.time() - 2 * 86400  # the default lifetime is 24 h
    old = LinkSigner(console_stack.base_url, console_stack.secret, clock=lambda: yesterday)
    response = page.goto(old.ack_url(alert_id))
    assert response is not None and response.status == 410
    expect(page.get_by_test_id("error")).to_contain_text("This link has expired")
    screenshot(page, "ack-link-expired")
    page.goto(console_stack.url(f"/ack/{old.token(alert_id, LinkAction.ACK)[:-4]}AAAA"))
    expect(page.get_by_test_id("error")).to_contain_text("This link is not valid")
