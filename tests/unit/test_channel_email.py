"""The email channel against a real local SMTP server (aiosmtpd): plain, STARTTLS, TLS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from tasks.channels import email as email_channel
from tasks.channels.email import EmailChannel, EmailSettings
from tasks.channels.errors import PermanentError, Reason, TransientError
from tests.support.ledger import (
    MemoryLedger,
    build_channel,
    parse_channel_settings,
    sample_notification,
)
from tests.support.smtp_server import SmtpServer

USER = ("alerts@example.com", "s3cret-smtp-pass")
SENT_AT = 1714564801.0  # Wed, 01 May 2024 12:00:01 GMT
SEED_EMAIL = {
    "enabled": True,
    "smtp_host": "smtp.gmail.com",
    "smtp_port": 587,
    "use_tls": True,
    "username": "alpr-alerts@example.com",
    "password": "from-env",
    "from_address": "ALPR Alerts <alpr-alerts@example.com>",
    "recipients": ["security@example.com"],
}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def plain() -> Iterator[SmtpServer]:
    server = SmtpServer("plain")
    yield server
    server.close()


def channel_for(server: SmtpServer, **config: Any) -> EmailChannel:
    settings = {
        "smtp_host": server.host,
        "smtp_port": server.port,
        "security": "none",
        "from_address": "Klaxon <klaxon@example.com>",
        "recipients": ["a@example.com"],
        "timeout_seconds": 5,
        **config,
    }
    channel = build_channel(email_channel.SPEC, settings)
    channel.clock = lambda: SENT_AT
    assert isinstance(channel, EmailChannel)
    return channel


def test_seed_settings_parse_to_starttls_on_587() -> None:
    """The seed's email block loads unchanged: use_tls on port 587 means STARTTLS."""
    settings, problems = parse_channel_settings(email_channel.SPEC, SEED_EMAIL)
    assert problems == []
    assert settings == EmailSettings(
        smtp_host="smtp.gmail.com",
        smtp_port=587,
        security="starttls",
        username="alpr-alerts@example.com",
        password="from-env",
        from_address="ALPR Alerts <alpr-alerts@example.com>",
        recipients=("security@example.com",),
    )


@pytest.mark.parametrize(
    ("config", "security", "port"),
    [
        ({"use_tls": True, "smtp_port": 465}, "tls", 465),
        ({"use_tls": False, "smtp_port": 25}, "none", 25),
        ({}, "none", 25),
        ({"security": "tls"}, "tls", 465),
        ({"security": "starttls"}, "starttls", 587),
    ],
)
def test_security_follows_use_tls_and_port(
    config: dict[str, Any], security: str, port: int
) -> None:
    """Without `security`, use_tls and the port choose it; the port defaults per security."""
    base = {"smtp_host": "mx", "from_address": "k@example.com"}
    settings, problems = parse_channel_settings(email_channel.SPEC, {**base, **config})
    assert problems == []
    assert (settings.security, settings.smtp_port) == (security, port)


def test_bad_settings_are_reported_with_their_field() -> None:
    """Every bad field is named: contradiction, missing password, bad address, typo."""
    _, problems = parse_channel_settings(
        email_channel.SPEC,
        {
            "smtp_host": "mx",
            "security": "none",
            "use_tls": True,
            "username": "u",
            "from_address": "not an address",
            "recipients": ["ok@example.com", "nope"],
            "timeout_secs": 3,
        },
    )
    assert [str(p) for p in problems] == [
        'alert_rules.yaml: notifications.email.use_tls: True contradicts security "none"; '
        "drop use_tls",
        "alert_rules.yaml: notifications.email.from_address: "
        "is not an email address: 'not an address'",
        "alert_rules.yaml: notifications.email.recipients[1]: is not an email address: 'nope'",
        "alert_rules.yaml: notifications.email.password: is required when username is set",
        'alert_rules.yaml: notifications.email.username: AUTH with security "none" sends '
        "the password unencrypted",
        "alert_rules.yaml: notifications.email.timeout_secs: "
        'unknown key (did you mean "timeout_seconds"?)',
    ]


def test_sends_text_and_escaped_html_with_stable_headers(plain: SmtpServer) -> None:
    """One message: exact headers, the text body, and the HTML variant wrapped as a page."""
    ledger = MemoryLedger()
    channel = channel_for(plain, subject_prefix="[klaxon] ")
    channel.send(sample_notification(), ledger)

    [mail] = plain.mail
    assert mail.mail_from == "klaxon@example.com"
    assert mail.rcpt_tos == ["a@example.com"]
    message = mail.message
    assert [(k, str(v)) for k, v in message.items()] == [
        ("From", "Klaxon <klaxon@example.com>"),
        ("To", "a@example.com"),
        ("Subject", "[klaxon] [HIGH] Watchlist Plate Detected: ABC123"),
        ("Date", "Wed, 01 May 2024 12:00:01 +0000"),
        ("Message-ID", "<6d1f0a3e-2b7c-5f4e-9a61-0c3d2e1f4a5b@example.com>"),
        ("Auto-Submitted", "auto-generated"),
        ("X-Klaxon-Rule", "watchlist_plate"),
        ("X-Klaxon-Priority", "high"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{message.get_boundary()}"'),
    ]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content() == "Plate ABC123 seen by cam-<north>&1\n"
    assert html.get_content() == (
        "<html><body>"
        '<pre style="font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap">'
        "Plate ABC123 seen by cam-&lt;north&gt;&amp;1</pre></body></html>\n"
    )
    assert ledger.marks == ["a@example.com"]


def test_html_falls_back_to_the_escaped_message(plain: SmtpServer) -> None:
    """Without an html variant the HTML part is the plain message, escaped."""
    channel_for(plain).send(sample_notification(variants={}), MemoryLedger())
    html = plain.mail[0].message.get_body(("html",))
    assert html is not None
    assert "<pre" in html.get_content()
    assert "cam-&lt;north&gt;&amp;1</pre>" in html.get_content()


def test_links_are_in_both_parts_escaped_in_the_html(plain: SmtpServer) -> None:
    """An alert's links follow the text, and are two anchors (URLs escaped) in the HTML."""
    ack = "https://klaxon.example.com/ack/tok?a=1&b=2"
    silence = "https://klaxon.example.com/silence-link/tok"
    notification = sample_notification(links={"ack": ack, "silence": silence})
    channel_for(plain).send(notification, MemoryLedger())
    message = plain.mail[0].message
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content() == (
        f"Plate ABC123 seen by cam-<north>&1\n\nAcknowledge: {ack}\nSilence 1h: {silence}\n"
    )
    assert html.get_content().endswith(
        "</pre><p>"
        '<a href="https://klaxon.example.com/ack/tok?a=1&amp;b=2">Acknowledge</a> &middot; '
        f'<a href="{silence}">Silence 1h</a></p></body></html>\n'
    )


def test_a_link_already_in_the_message_is_not_repeated_in_the_text(plain: SmtpServer) -> None:
    """{ack_url} in the template: the text part lists only the silence link after it; the
    HTML part keeps both labelled links (they show no URL)."""
    ack = "https://klaxon.example.com/ack/tok"
    silence = "https://klaxon.example.com/silence-link/tok"
    notification = sample_notification(
        message=f"Plate ABC123. Ack: {ack}", links={"ack": ack, "silence": silence}
    )
    channel_for(plain).send(notification, MemoryLedger())
    message = plain.mail[0].message
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content() == f"Plate ABC123. Ack: {ack}\n\nSilence 1h: {silence}\n"
    assert text.get_content().count(ack) == 1
    assert f'<a href="{ack}">Acknowledge</a>' in html.get_content()


def test_rule_recipients_override_the_defaults(plain: SmtpServer) -> None:
    """A rule's recipients replace the channel's list, in the envelope and the To header."""
    notification = sample_notification(recipients=["x@example.com", "y@example.com"])
    channel_for(plain).send(notification, MemoryLedger())
    [mail] = plain.mail
    assert mail.rcpt_tos == ["x@example.com", "y@example.com"]
    assert mail.message["To"] == "x@example.com, y@example.com"


def test_recipients_in_the_ledger_are_skipped(plain: SmtpServer) -> None:
    """Recipients already sent are not sent again; when none remain, nothing connects."""
    channel = channel_for(plain, recipients=["a@example.com", "b@example.com"])
    channel.send(sample_notification(), MemoryLedger("a@example.com"))
    assert [m.rcpt_tos for m in plain.mail] == [["b@example.com"]]
    assert plain.mail[0].message["To"] == "a@example.com, b@example.com"

    channel.send(sample_notification(), MemoryLedger("a@example.com", "b@example.com"))
    assert plain.data_attempts == 1


def test_refused_451_recipient_is_retried_alone_and_receives_once(plain: SmtpServer) -> None:
    """A 451 refusal marks the others, raises Transient; the retry sends only to the refused."""
    recipients = ["a@example.com", "b@example.com", "c@example.com"]
    channel = channel_for(plain, recipients=recipients)
    plain.fail_rcpt("b@example.com", "451 4.3.0 Mailbox temporarily unavailable")
    ledger = MemoryLedger()
    notification = sample_notification()

    with pytest.raises(TransientError) as caught:
        channel.send(notification, ledger)
    assert caught.value.reason is Reason.SERVER_ERROR
    assert str(caught.value) == (
        f"smtp 127.0.0.1:{plain.port} refused 1 recipient(s): "
        "b@example.com (451 4.3.0 Mailbox temporarily unavailable)"
    )
    assert ledger.marks == ["a@example.com", "c@example.com"]

    channel.send(notification, ledger)
    assert ledger.marks == ["a@example.com", "c@example.com", "b@example.com"]
    assert [m.rcpt_tos for m in plain.mail] == [
        ["a@example.com", "c@example.com"],
        ["b@example.com"],
    ]
    assert {r: plain.deliveries_to(r) for r in recipients} == dict.fromkeys(recipients, 1)
    assert {m.message["Message-ID"] for m in plain.mail} == {
        "<6d1f0a3e-2b7c-5f4e-9a61-0c3d2e1f4a5b@example.com>"
    }


def test_refused_550_recipient_is_permanent_and_others_delivered(plain: SmtpServer) -> None:
    """A 5xx refusal is a permanent invalid_recipient; the accepted recipients are marked."""
    channel = channel_for(plain, recipients=["a@example.com", "gone@example.com"])
    plain.fail_rcpt("gone@example.com", "550 5.1.1 No such user")
    ledger = MemoryLedger()
    with pytest.raises(PermanentError) as caught:
        channel.send(sample_notification(), ledger)
    assert caught.value.reason is Reason.INVALID_RECIPIENT
    assert ledger.marks == ["a@example.com"]
    assert [m.rcpt_tos for m in plain.mail] == [["a@example.com"]]


def test_all_recipients_refused_with_4xx_is_transient(plain: SmtpServer) -> None:
    """When every recipient is refused (smtplib raises) nothing is marked and it is transient."""
    channel = channel_for(plain)
    plain.fail_rcpt("a@example.com", "452 4.5.3 Too many recipients")
    ledger = MemoryLedger()
    with pytest.raises(TransientError) as caught:
        channel.send(sample_notification(), ledger)
    assert caught.value.reason is Reason.RATE_LIMITED
    assert ledger.marks == []
    assert plain.mail == []


def test_starttls_with_auth(server_tls: ssl.SSLContext, ca_file: str) -> None:
    """STARTTLS against a private CA, then AUTH: the server sees an authenticated session."""
    server = SmtpServer("starttls", server_tls, user=USER)
    try:
        channel = channel_for(
            server,
            security="starttls",
            smtp_host="localhost",
            ca_file=ca_file,
            username=USER[0],
            password=USER[1],
        )
        channel.send(sample_notification(), MemoryLedger())
        [mail] = server.mail
        assert mail.authenticated_as == USER[0]
        assert mail.rcpt_tos == ["a@example.com"]
    finally:
        server.close()


def test_implicit_tls_with_auth(server_tls: ssl.SSLContext, ca_file: str) -> None:
    """Implicit TLS (port-465 style) with AUTH delivers the message."""
    server = SmtpServer("tls", server_tls, user=USER)
    try:
        channel = channel_for(
            server, security="tls", ca_file=ca_file, username=USER[0], password=USER[1]
        )
        channel.send(sample_notification(), MemoryLedger())
        assert [m.authenticated_as for m in server.mail] == [USER[0]]
    finally:
        server.close()


def test_wrong_password_is_permanent_auth_without_the_password(
    server_tls: ssl.SSLContext, ca_file: str
) -> None:
    """A rejected login is a permanent auth error whose text never holds the password."""
    server = SmtpServer("starttls", server_tls, user=USER)
    try:
        channel = channel_for(
            server, security="starttls", ca_file=ca_file, username=USER[0], password="wrong-pw-1"
        )
        with pytest.raises(PermanentError) as caught:
            channel.send(sample_notification(), MemoryLedger())
        assert caught.value.reason is Reason.AUTH
        assert str(caught.value) == (
            f"smtp 127.0.0.1:{server.port} answered 535: 5.7.8 Authentication credentials invalid"
        )
        assert "wrong-pw-1" not in repr(caught.value)
        assert server.mail == []
    finally:
        server.close()


def test_untrusted_certificate_is_permanent(server_tls: ssl.SSLContext) -> None:
    """A certificate from an unknown CA fails verification: permanent, and it says so."""
    server = SmtpServer("tls", server_tls, user=USER)
    try:
        channel = channel_for(server, security="tls", username=USER[0], password=USER[1])
        with pytest.raises(PermanentError) as caught:
            channel.send(sample_notification(), MemoryLedger())
        assert caught.value.reason is Reason.CLIENT_ERROR
        assert str(caught.value).startswith(
            f"smtp 127.0.0.1:{server.port}: TLS certificate verification failed"
        )
        assert server.mail == []
    finally:
        server.close()


def test_verify_tls_false_accepts_an_unknown_ca(server_tls: ssl.SSLContext) -> None:
    """verify_tls: false delivers over TLS without checking the certificate."""
    server = SmtpServer("tls", server_tls, user=USER)
    try:
        channel = channel_for(
            server, security="tls", verify_tls=False, username=USER[0], password=USER[1]
        )
        channel.send(sample_notification(), MemoryLedger())
        assert len(server.mail) == 1
    finally:
        server.close()


def test_starttls_against_a_server_without_it_is_permanent(plain: SmtpServer) -> None:
    """security: starttls never falls back to plain text when the server lacks STARTTLS."""
    with pytest.raises(PermanentError) as caught:
        channel_for(plain, security="starttls").send(sample_notification(), MemoryLedger())
    assert caught.value.reason is Reason.CLIENT_ERROR
    assert str(caught.value) == (
        f"smtp 127.0.0.1:{plain.port}: STARTTLS extension not supported by server."
    )
    assert plain.mail == []


def test_no_recipients_is_permanent(plain: SmtpServer) -> None:
    """A channel without recipients and a rule without an override cannot send."""
    with pytest.raises(PermanentError) as caught:
        channel_for(plain, recipients=[]).send(sample_notification(), MemoryLedger())
    assert str(caught.value) == f"smtp 127.0.0.1:{plain.port}: no recipients to send to"


def test_ca_file_is_read_for_the_tls_context(ca_file: str) -> None:
    """The TLS context trusts the private CA named by ca_file, with verification on."""
    settings = EmailSettings(smtp_host="mx", from_address="k@example.com", ca_file=ca_file)
    context = EmailChannel(settings).tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    # The test CA as the ssl module decodes it (subject, serial number, validity).
    reference = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    reference.load_verify_locations(cafile=ca_file)
    [test_ca] = reference.get_ca_certs()
    assert test_ca in context.get_ca_certs()


def test_ca_file_does_not_trust_a_certificate_from_another_ca(ca_file: str) -> None:
    """With ca_file naming one CA, a server certificate signed by an unrelated CA is refused."""
    other_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1", "localhost").configure_cert(other_tls)
    server = SmtpServer("tls", other_tls, user=USER)
    try:
        channel = channel_for(
            server, security="tls", ca_file=ca_file, username=USER[0], password=USER[1]
        )
        with pytest.raises(PermanentError) as caught:
            channel.send(sample_notification(), MemoryLedger())
        assert caught.value.reason is Reason.CLIENT_ERROR
        assert str(caught.value).startswith(
            f"smtp 127.0.0.1:{server.port}: TLS certificate verification failed"
        )
        assert server.mail == []
    finally:
        server.close()
