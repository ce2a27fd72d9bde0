"""The SMS channel: the official Twilio client against a local double of the Messages API."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tasks.channels import sms
from tasks.channels.errors import PermanentError, Reason, TransientError
from tasks.channels.sms import GatewayHttpClient, SmsChannel, SmsSettings, sms_body
from tests.support.ledger import (
    MemoryLedger,
    build_channel,
    parse_channel_settings,
    sample_notification,
)
from tests.support.twilio_server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SERVER_ERROR,
    TOO_MANY_REQUESTS,
    TwilioServer,
    invalid_number,
)

ONE, TWO, THREE = "+15550000001", "+15550000002", "+15550000003"
MESSAGE = "Plate ABC123 seen by cam-<north>&1"


@pytest.fixture(scope="module")
def twilio_double() -> Iterator[TwilioServer]:
    double = TwilioServer()
    yield double
    double.close()


@pytest.fixture
def server(twilio_double: TwilioServer) -> TwilioServer:
    twilio_double.reset()
    return twilio_double


def channel_for(server: TwilioServer, **config: Any) -> SmsChannel:
    settings = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "from_number": "+15551234567",
        "to_numbers": [ONE, TWO, THREE],
        "api_base_url": server.base_url,
        "timeout_seconds": 5,
        **config,
    }
    channel = build_channel(sms.SPEC, settings)
    assert isinstance(channel, SmsChannel)
    return channel


def test_seed_settings_parse() -> None:
    """The seed's sms block loads unchanged."""
    settings, problems = parse_channel_settings(
        sms.SPEC,
        {
            "enabled": False,
            "twilio_account_sid": "ACxyz",
            "twilio_auth_token": "tok",
            "from_number": "+15551234567",
            "to_numbers": ["+15559876543"],
        },
    )
    assert problems == []
    assert settings == SmsSettings(
        account_sid="ACxyz",
        auth_token="tok",
        from_number="+15551234567",
        to_numbers=("+15559876543",),
    )


def test_bad_settings_are_reported_with_their_field() -> None:
    """A sender is required, numbers must be E.164, the base URL must be http(s)."""
    _, problems = parse_channel_settings(
        sms.SPEC,
        {
            "twilio_account_sid": "AC1",
            "twilio_auth_token": "tok",
            "to_numbers": ["+15559876543", "555-0100"],
            "api_base_url": "localhost:8080",
        },
    )
    assert [str(p) for p in problems] == [
        "alert_rules.yaml: notifications.sms.from_number: "
        "is required unless messaging_service_sid is set",
        "alert_rules.yaml: notifications.sms.to_numbers[1]: "
        "is not an E.164 number (+15551234567): '555-0100'",
        "alert_rules.yaml: notifications.sms.api_base_url: "
        "must start with https:// or http://, got 'localhost:8080'",
    ]


def test_sends_one_message_per_number_with_exact_fields(server: TwilioServer) -> None:
    """Each number gets To/From/Body over Basic auth at the account's Messages.json."""
    ledger = MemoryLedger()
    channel_for(server).send(sample_notification("sms"), ledger)

    requests = server.sink.requests(server.path)
    assert [r.form() for r in requests[-3:]] == [
        {"To": [n], "From": ["+15551234567"], "Body": [MESSAGE]} for n in (ONE, TWO, THREE)
    ]
    token = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert {r.header("Authorization") for r in requests[-3:]} == {f"Basic {token}"}
    assert ledger.marks == [ONE, TWO, THREE]


def test_messaging_service_replaces_from(server: TwilioServer) -> None:
    """With messaging_service_sid and no from_number the form carries MessagingServiceSid."""
    channel = channel_for(
        server, from_number=None, messaging_service_sid="MG" + "1" * 32, to_numbers=[ONE]
    )
    channel.send(sample_notification("sms"), MemoryLedger())
    assert server.messages == [{"To": ONE, "MessagingServiceSid": "MG" + "1" * 32, "Body": MESSAGE}]


def test_body_is_cut_to_1600_characters_with_an_ellipsis(server: TwilioServer) -> None:
    """A long message is cut to 1,600 characters, the last one an ellipsis."""
    long = "x" * 2000
    assert sms_body("y" * 1600) == "y" * 1600
    channel_for(server, to_numbers=[ONE]).send(
        sample_notification("sms", message=long), MemoryLedger()
    )
    assert [m["Body"] for m in server.messages] == ["x" * 1599 + "…"]


def test_the_ack_link_ends_the_body_and_is_never_cut(server: TwilioServer) -> None:
    """A short " Ack: <url>" follows the text; a long text is cut so the link stays whole."""
    ack = "https://klaxon.example.com/ack/C3xPXo0qXBueP2p7jJ0OHw.aw86mw.K4aS5AbjU6pBjSBLZzkvnYnk"
    suffix = f" Ack: {ack}"
    assert sms_body("short", ack) == "short" + suffix
    assert sms_body("short") == "short"
    long = "x" * 2000
    channel_for(server, to_numbers=[ONE]).send(
        sample_notification("sms", message=long, links={"ack": ack, "silence": "s"}),
        MemoryLedger(),
    )
    [body] = [m["Body"] for m in server.messages]
    assert len(body) == 1600
    assert body == "x" * (1600 - len(suffix) - 1) + "…" + suffix
    # A link that leaves no room for any text is dropped rather than sent alone.
    assert sms_body("text", "h" * 1600) == "text"


def test_an_ack_link_already_in_the_message_is_not_added_again(server: TwilioServer) -> None:
    """A template with {ack_url} already carries the link: no " Ack: <url>" suffix."""
    ack = "https://klaxon.example.com/ack/C3xPXo0qXBueP2p7jJ0OHw.aw86mw.K4aS5AbjU6pBjSBLZzkvnYnk"
    message = f"ABC123 at gate-3. Ack: {ack}"
    channel_for(server, to_numbers=[ONE]).send(
        sample_notification("sms", message=message, links={"ack": ack, "silence": "s"}),
        MemoryLedger(),
    )
    assert [m["Body"] for m in server.messages] == [message]
    # Too long to send whole, its own copy would be cut: the suffix keeps one link whole.
    long = f"{ack} " + "x" * 2000
    assert sms_body(long, ack).endswith(f"… Ack: {ack}")


def test_rule_recipients_and_ledger_choose_the_numbers(server: TwilioServer) -> None:
    """A rule's numbers replace the defaults; numbers already in the ledger are skipped."""
    notification = sample_notification("sms", recipients=["+15557770001", "+15557770002"])
    channel_for(server).send(notification, MemoryLedger("+15557770001"))
    assert [m["To"] for m in server.messages] == ["+15557770002"]


def test_a_500_for_one_number_retries_only_that_number(server: TwilioServer) -> None:
    """The 2nd of 3 fails once with 500: 1 and 3 are marked; the retry sends only to 2."""
    server.fail(TWO, SERVER_ERROR)
    channel = channel_for(server)
    ledger = MemoryLedger()
    notification = sample_notification("sms")

    with pytest.raises(TransientError) as caught:
        channel.send(notification, ledger)
    assert caught.value.reason is Reason.SERVER_ERROR
    assert str(caught.value) == (
        f"message to {TWO}: twilio http://127.0.0.1:{server.sink.port} answered 500 "
        "(code 20500): An internal server error has occurred"
    )
    assert ledger.marks == [ONE, THREE]

    channel.send(notification, ledger)
    assert ledger.marks == [ONE, THREE, TWO]
    assert server.delivered() == Counter({ONE: 1, TWO: 1, THREE: 1})


def test_an_invalid_number_does_not_block_the_others(server: TwilioServer) -> None:
    """21211 for one number is permanent invalid_recipient after the others were sent."""
    server.fail(ONE, invalid_number(ONE))
    ledger = MemoryLedger()
    with pytest.raises(PermanentError) as caught:
        channel_for(server).send(sample_notification("sms"), ledger)
    assert caught.value.reason is Reason.INVALID_RECIPIENT
    assert str(caught.value) == (
        f"message to {ONE}: twilio http://127.0.0.1:{server.sink.port} answered 400 "
        f"(code 21211): The 'To' number {ONE} is not a valid phone number."
    )
    assert ledger.marks == [TWO, THREE]


def test_transient_wins_over_permanent_so_the_retry_can_deliver(server: TwilioServer) -> None:
    """One invalid number and one 500: the send is transient so the 500 one is retried."""
    server.fail(ONE, invalid_number(ONE))
    server.fail(TWO, SERVER_ERROR)
    ledger = MemoryLedger()
    with pytest.raises(TransientError) as caught:
        channel_for(server).send(sample_notification("sms"), ledger)
    assert caught.value.reason is Reason.SERVER_ERROR
    assert str(caught.value).startswith("2 of 3 message(s) failed: message to +15550000001: ")
    assert ledger.marks == [THREE]


def test_wrong_auth_token_stops_at_once_and_never_shows_it(server: TwilioServer) -> None:
    """20003 is permanent auth; no further numbers are tried; the token is not in the text."""
    channel = channel_for(server, twilio_auth_token="wrong-token-123")
    with pytest.raises(PermanentError) as caught:
        channel.send(sample_notification("sms"), MemoryLedger())
    assert caught.value.reason is Reason.AUTH
    assert str(caught.value) == (
        f"message to {ONE}: twilio http://127.0.0.1:{server.sink.port} answered 401 "
        "(code 20003): Authenticate"
    )
    assert "wrong-token-123" not in repr(caught.value)
    assert [a["To"] for a in server.attempts] == [ONE]
    assert server.messages == []


def test_rate_limited_stops_and_carries_retry_after(server: TwilioServer) -> None:
    """429 is transient rate_limited with Retry-After; the remaining numbers wait too."""
    server.fail_next(TOO_MANY_REQUESTS)
    ledger = MemoryLedger()
    with pytest.raises(TransientError) as caught:
        channel_for(server).send(sample_notification("sms"), ledger)
    assert (caught.value.reason, caught.value.retry_after) == (Reason.RATE_LIMITED, 7.0)
    assert [a["To"] for a in server.attempts] == [ONE]
    assert ledger.marks == []


@pytest.mark.parametrize(
    ("url", "rewritten"),
    [
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
            "http://gw.local:8080/twilio/2010-04-01/Accounts/AC1/Messages.json",
        ),
        (
            "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1",
            "http://gw.local:8080/twilio/2010-04-01/Accounts/AC1/Messages.json?x=1",
        ),
        ("https://example.com/twilio.com/a", "https://example.com/twilio.com/a"),
    ],
)
def test_gateway_rewrites_only_twilio_hosts(url: str, rewritten: str) -> None:
    """api_base_url replaces scheme and host of *.twilio.com URLs, keeping path and query."""
    client = GatewayHttpClient("http://gw.local:8080/twilio/", timeout=1)
    assert client.rewrite(url) == rewritten
    client.close()
