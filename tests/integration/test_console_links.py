"""The pages behind signed ack and silence links: once, until they expire, never by a GET."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.acks import AckBook, AckState
from alerts.muting.silences import SilenceStore
from contract.ack_links import LinkSigner
from tests.support.console import ALERT, HOTLIST, SECRET, WEBHOOK, console_app, csrf_of, open_hit

PUBLIC = "http://console.test"


@pytest.fixture
def app(
    tmp_path: Path,
    redis_client: redis.Redis,
    redis_url: str,
    write_config: Callable[..., Path],
) -> Iterator[FastAPI]:
    rules = write_config(WEBHOOK, [HOTLIST])
    with console_app(tmp_path, redis_client, redis_url, rules) as app:
        yield app


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC)
    return url.removeprefix(PUBLIC)


def signer(clock: Callable[[], float] | None = None) -> LinkSigner:
    """Signs as the bridge does, with the console's secret (and a clock, to age a link)."""
    if clock is None:
        return LinkSigner(PUBLIC, SECRET)
    return LinkSigner(PUBLIC, SECRET, clock=clock)


def follow(client: TestClient, url: str, **form: str) -> tuple[str, int]:
    """Open a link, then press its button: the final page's text and status."""
    shown = client.get(path_of(url))
    assert shown.status_code == 200, shown.text
    done = client.post(path_of(url), data={"csrf": csrf_of(shown.text), **form})
    return done.text, done.status_code


def test_opening_an_ack_link_changes_nothing_and_its_button_acks(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    open_hit(redis_client)
    url = signer().ack_url(ALERT)
    client = TestClient(app)
    for _ in range(2):  # a mail scanner's fetch, then the person's
        shown = client.get(path_of(url))
        assert shown.status_code == 200 and 'data-action="ack-link"' in shown.text
    assert AckBook(redis_client).get(ALERT).state is AckState.OPEN  # type: ignore[union-attr]
    text, status = follow(client, url, name="Dana")
    assert status == 200 and "Acknowledged" in text
    record = AckBook(redis_client).get(ALERT)
    assert record is not None and record.state is AckState.ACKNOWLEDGED
    assert record.by == "Dana (ack link)"


def test_a_used_ack_link_is_refused_with_a_readable_page(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    open_hit(redis_client)
    url = signer().ack_url(ALERT)
    client = TestClient(app)
    follow(client, url)
    again = client.get(path_of(url))
    assert again.status_code == 410
    assert "This link was already used" in again.text and "<html" in again.text


def test_two_clicks_at_once_ack_once(app: FastAPI, redis_client: redis.Redis) -> None:
    open_hit(redis_client)
    url = signer().ack_url(ALERT)
    first, second = TestClient(app), TestClient(app)
    csrf_first = csrf_of(first.get(path_of(url)).text)
    csrf_second = csrf_of(second.get(path_of(url)).text)
    assert first.post(path_of(url), data={"csrf": csrf_first}).status_code == 200
    late = second.post(path_of(url), data={"csrf": csrf_second})
    assert late.status_code == 410 and "already used" in late.text


def test_an_expired_link_is_refused_and_changes_nothing(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    open_hit(redis_client)
    two_days_ago = signer(clock=lambda: 1_700_000_000.0 - 2 * 86400)
    url = two_days_ago.ack_url(ALERT)
    reply = TestClient(app).get(path_of(url))
    assert reply.status_code == 410
    assert "This link has expired" in reply.text
    assert AckBook(redis_client).get(ALERT).state is AckState.OPEN  # type: ignore[union-attr]


def test_a_tampered_or_foreign_link_is_refused(app: FastAPI, redis_client: redis.Redis) -> None:
    open_hit(redis_client)
    url = signer().ack_url(ALERT)
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    foreign = LinkSigner(PUBLIC, "another-secret-0123456789abcdef0123").ack_url(ALERT)
    silence_as_ack = signer().silence_url(ALERT).replace("/silence-link/", "/ack/")
    client = TestClient(app)
    for bad in (tampered, foreign, silence_as_ack):
        reply = client.get(path_of(bad))
        assert reply.status_code == 400, bad
        assert "This link is not valid" in reply.text


def test_a_link_button_posted_without_its_csrf_token_is_refused(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    open_hit(redis_client)
    url = signer().ack_url(ALERT)
    client = TestClient(app)
    client.get(path_of(url))
    reply = client.post(path_of(url), data={})
    assert reply.status_code == 403 and "CSRF" in reply.text
    assert AckBook(redis_client).get(ALERT).state is AckState.OPEN  # type: ignore[union-attr]
    assert client.get(path_of(url)).status_code == 200  # and the link is not spent


def test_a_silence_link_silences_its_alert_only_for_the_chosen_time(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    open_hit(redis_client)
    url = signer().silence_url(ALERT)
    client = TestClient(app)
    shown = client.get(path_of(url))
    assert "rule_id=hotlist" in shown.text and "plate.normalized_text=ABC123" in shown.text
    assert "<option selected>1h</option>" in shown.text  # what the Slack button promises
    # Matchers in the form are ignored: a link silences its own alert, nothing wider.
    done = client.post(
        path_of(url),
        data={
            "csrf": csrf_of(shown.text),
            "duration": "4h",
            "comment": "water change",
            "matchers": "rule_id=~.*",
        },
    )
    assert done.status_code == 200 and "Silenced" in done.text
    (silence,) = SilenceStore(redis_client).all()
    assert silence.matchers == ("rule_id=hotlist", "plate.normalized_text=ABC123")
    assert silence.ends_at - silence.starts_at == 4 * 3600
    assert silence.created_by == "silence link" and silence.comment == "water change"
    assert client.get(path_of(url)).status_code == 410


def test_a_silence_link_refuses_a_duration_it_does_not_offer(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    open_hit(redis_client)
    url = signer().silence_url(ALERT)
    text, status = follow(TestClient(app), url, duration="999d")
    assert status == 422 and "Choose a duration" in text
    assert SilenceStore(redis_client).all() == []


def test_an_ack_link_for_an_alert_without_ack_record_says_why(app: FastAPI) -> None:
    reply = TestClient(app).get(path_of(signer().ack_url("no-such-alert")))
    assert reply.status_code == 409
    assert "cannot be acknowledged" in reply.text


@pytest.mark.parametrize("plate", ["~.*", " ABC123", "AB\u2028C"])
def test_a_silence_link_never_silences_more_than_its_alert(
    app: FastAPI, redis_client: redis.Redis, plate: str
) -> None:
    """A key that would read as a regex, or change as a form line, makes no link silence."""
    open_hit(redis_client, plate=plate)
    url = signer().silence_url(ALERT)
    shown = TestClient(app).get(path_of(url))
    assert shown.status_code == 409
    assert "cannot be silenced from a link" in shown.text
    assert SilenceStore(redis_client).all() == []


def test_a_silence_link_for_an_alert_whose_event_lacks_its_key_is_refused(
    app: FastAPI, redis_client: redis.Redis
) -> None:
    open_hit(redis_client)
    # The recorded event loses its plate: only a rule-wide silence could be made.
    redis_client.hset(f"klaxon:alert:{ALERT}", "context", '{"event": {"camera_id": "gate-2"}}')
    reply = TestClient(app).get(path_of(signer().silence_url(ALERT)))
    assert reply.status_code == 409 and "every alert of hotlist" in reply.text
