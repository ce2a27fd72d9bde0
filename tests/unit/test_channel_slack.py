"""The Slack channel against a local double of Slack's incoming webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tasks.channels import slack
from tasks.channels.errors import PermanentError, Reason, TransientError
from tasks.channels.slack import SlackChannel, SlackSettings, slack_escape
from tests.support.ledger import (
    MemoryLedger,
    build_channel,
    parse_channel_settings,
    sample_notification,
)
from tests.support.slack_server import WEBHOOK_PATH, SlackServer
from tests.support.smtp_server import free_port


@pytest.fixture(scope="module")
def slack_double() -> Iterator[SlackServer]:
    double = SlackServer()
    yield double
    double.close()


@pytest.fixture
def server(slack_double: SlackServer) -> SlackServer:
    slack_double.reset()
    return slack_double


def channel_for(server: SlackServer, **config: Any) -> SlackChannel:
    channel = build_channel(slack.SPEC, {"webhook_url": server.webhook_url, **config})
    assert isinstance(channel, SlackChannel)
    return channel


def test_seed_settings_parse() -> None:
    """The seed's slack block loads unchanged."""
    settings, problems = parse_channel_settings(
        slack.SPEC,
        {"enabled": True, "webhook_url": "https://hooks.slack.com/x", "channel": "#alpr-alerts"},
    )
    assert problems == []
    assert settings == SlackSettings(
        webhook_url="https://hooks.slack.com/x", channel="#alpr-alerts"
    )


def test_bad_settings_never_echo_the_webhook_path() -> None:
    """A malformed webhook URL is reported masked; a missing one is required."""
    _, problems = parse_channel_settings(
        slack.SPEC, {"webhook_url": "hooks.slack.com/T1/B2/sekrit"}
    )
    assert [str(p) for p in problems] == [
        "alert_rules.yaml: notifications.slack.webhook_url: must start with https://, got '/…'"
    ]
    _, problems = parse_channel_settings(slack.SPEC, {"channel": "#x"})
    assert [str(p) for p in problems] == [
        "alert_rules.yaml: notifications.slack.webhook_url: is required"
    ]


def test_escape_replaces_the_three_control_characters() -> None:
    """Slack's escaping: &, < and > only, & first."""
    assert slack_escape("<@U123> & <!here> > x") == "&lt;@U123&gt; &amp; &lt;!here&gt; &gt; x"


def test_posts_the_exact_payload(server: SlackServer) -> None:
    """Text, header with priority, message, fields with escaped event values, context."""
    channel = channel_for(
        server, channel="#alpr-alerts", username="Klaxon", icon_emoji=":rotating_light:"
    )
    channel.send(sample_notification("slack"), MemoryLedger())

    [request] = server.received
    assert request.header("Content-Type") == "application/json"
    assert request.json() == {
        "text": "Plate ABC123 seen by cam-&lt;north&gt;&amp;1",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": ":red_circle: HIGH: Watchlist Plate Detected",
                    "emoji": True,
                },
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Plate ABC123 seen by cam-&lt;north&gt;&amp;1"},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Rule*\nWatchlist Plate Detected"},
                    {"type": "mrkdwn", "text": "*Camera*\ncam-&lt;north&gt;&amp;1"},
                    {"type": "mrkdwn", "text": "*Plate*\nABC123"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "2024-05-01T12:00:01Z · alpr.plates.detected/2/1234",
                    }
                ],
            },
        ],
        "channel": "#alpr-alerts",
        "username": "Klaxon",
        "icon_emoji": ":rotating_light:",
    }


def test_fields_follow_the_event_and_priority(server: SlackServer) -> None:
    """Absent event fields are left out; unknown priorities get a bell; no slack variant escapes."""
    notification = sample_notification(
        "slack",
        priority="urgent",
        message="temp > 30 & rising",
        variants={},
        event={"device": "tank-1"},
    )
    channel_for(server).send(notification, MemoryLedger())
    [body] = server.posts()
    assert body["text"] == "temp &gt; 30 &amp; rising"
    assert body["blocks"][0]["text"]["text"] == ":bell: URGENT: Watchlist Plate Detected"
    assert body["blocks"][2]["fields"] == [
        {"type": "mrkdwn", "text": "*Rule*\nWatchlist Plate Detected"}
    ]
    assert "channel" not in body


def test_long_messages_are_cut_to_block_limits(server: SlackServer) -> None:
    """The section keeps Slack's 3,000-character limit without a broken entity at the cut."""
    message = "x" * 2997 + "&amp;tail"
    notification = sample_notification("slack", variants={"slack": message})
    channel_for(server).send(notification, MemoryLedger())
    [body] = server.posts()
    assert body["text"] == message
    assert body["blocks"][1]["text"]["text"] == "x" * 2997 + "…"


ACK = "https://klaxon.example.com/ack/tok.en.sig"
SILENCE = "https://klaxon.example.com/silence-link/tok.en.sig"


def test_links_become_two_link_buttons_before_the_context(server: SlackServer) -> None:
    """An alert's links are an actions block: Acknowledge and Silence 1h link buttons."""
    notification = sample_notification("slack", links={"ack": ACK, "silence": SILENCE})
    channel_for(server).send(notification, MemoryLedger())
    [body] = server.posts()
    assert [block["type"] for block in body["blocks"]] == [
        "header",
        "section",
        "section",
        "actions",
        "context",
    ]
    assert body["blocks"][3] == {
        "type": "actions",
        "block_id": "klaxon_links",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "url": ACK,
                "action_id": "klaxon_ack",
                "style": "primary",
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Silence 1h"},
                "url": SILENCE,
                "action_id": "klaxon_silence",
            },
        ],
    }


def test_a_link_past_slacks_url_limit_is_left_out() -> None:
    """Block Kit takes at most 3,000 characters of url: a longer link gets no button."""
    too_long = "https://klaxon.example.com/" + "x" * 3000
    assert slack.link_buttons({"ack": too_long}) is None
    buttons = slack.link_buttons({"ack": too_long, "silence": SILENCE})
    assert buttons is not None
    assert [b["url"] for b in buttons["elements"]] == [SILENCE]


@pytest.mark.parametrize(
    ("error", "kind", "reason", "status"),
    [
        ("invalid_payload", PermanentError, Reason.CLIENT_ERROR, 400),
        ("invalid_token", PermanentError, Reason.AUTH, 403),
        ("channel_not_found", PermanentError, Reason.CLIENT_ERROR, 404),
        ("channel_is_archived", PermanentError, Reason.CLIENT_ERROR, 410),
        ("rollup_error", TransientError, Reason.SERVER_ERROR, 500),
    ],
)
def test_slack_errors_carry_slacks_error_text(
    server: SlackServer, error: str, kind: type[Exception], reason: Reason, status: int
) -> None:
    """Slack's error code from the body is in the message; the webhook path is masked."""
    server.fail(error)
    with pytest.raises(kind) as caught:
        channel_for(server).send(sample_notification("slack"), MemoryLedger())
    assert str(caught.value) == f"slack http://127.0.0.1:{server.port}/… answered {status}: {error}"
    assert getattr(caught.value, "reason", None) is reason


def test_rate_limited_honours_retry_after(server: SlackServer) -> None:
    """429 is transient rate_limited with Retry-After's seconds; the next post succeeds."""
    server.fail("rate_limited")
    channel = channel_for(server)
    with pytest.raises(TransientError) as caught:
        channel.send(sample_notification("slack"), MemoryLedger())
    assert (caught.value.reason, caught.value.retry_after) == (Reason.RATE_LIMITED, 30.0)
    channel.send(sample_notification("slack"), MemoryLedger())
    assert len(server.posts()) == 2


def test_connection_errors_do_not_chain_the_webhook_url() -> None:
    """requests' message holds the full URL; the raised error carries no cause or context."""
    url = f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}"
    channel = SlackChannel(SlackSettings(webhook_url=url, timeout_seconds=2))
    with pytest.raises(TransientError) as caught:
        channel.send(sample_notification("slack"), MemoryLedger())
    assert caught.value.reason is Reason.CONNECTION
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert WEBHOOK_PATH not in repr(caught.value)
