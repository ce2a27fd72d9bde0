"""The apprise channel against local JSON receivers (Apprise's ``json://`` service)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks.channels import CHANNELS, Reason, TransientError
from tasks.channels.apprise import ledger_key
from tests.support.http_sink import Answer, HttpSink
from tests.support.ledger import (
    MemoryLedger,
    build_channel,
    parse_channel_settings,
    sample_notification,
)


@pytest.fixture
def sinks() -> Iterator[tuple[HttpSink, HttpSink]]:
    first, second = HttpSink(), HttpSink()
    yield first, second
    first.close()
    second.close()


def test_a_retry_goes_only_to_the_services_that_said_no(sinks: tuple[HttpSink, HttpSink]) -> None:
    """One of two URLs answers 500: a transient error; the retry posts to that one alone."""
    first, second = sinks
    urls = [f"json://127.0.0.1:{first.port}/a", f"json://127.0.0.1:{second.port}/b"]
    channel = build_channel(CHANNELS["apprise"], {"urls": urls})
    second.script("/b", Answer(500, "down"))
    ledger = MemoryLedger()

    with pytest.raises(TransientError, match=r"URL #2 said no: .*500") as failed:
        channel.send(sample_notification("apprise"), ledger)
    assert failed.value.reason is Reason.SERVER_ERROR
    assert ledger.sent == {ledger_key(urls[0])}

    channel.send(sample_notification("apprise"), ledger)
    assert (len(first.requests("/a")), len(second.requests("/b"))) == (1, 2)
    body = first.requests("/a")[0].json()
    assert body["message"] == sample_notification().message
    assert body["title"] == sample_notification().subject


def test_urls_are_checked_without_being_shown() -> None:
    """A missing list, an empty one and a URL without a scheme are errors naming the index."""
    secret = "no-scheme-secret-token"
    _, problems = parse_channel_settings(CHANNELS["apprise"], {"urls": ["json://h/x", secret]})
    assert [f"{p.field}: {p.message}" for p in problems] == [
        "notifications.apprise.urls[1]: must be an Apprise URL (scheme://...)"
    ]
    _, problems = parse_channel_settings(CHANNELS["apprise"], {"urls": []})
    assert [p.message for p in problems] == ["must list at least one Apprise URL"]
    settings, _ = parse_channel_settings(CHANNELS["apprise"], {"urls": [f"tgram://{secret}/1"]})
    assert secret not in repr(settings)
