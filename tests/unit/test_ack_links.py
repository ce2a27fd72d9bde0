"""Signed, expiring ack and silence links (contract.ack_links) and their settings."""

from __future__ import annotations

import logging

import pytest
import redis

from contract.ack_links import (
    LinkAction,
    LinkClaim,
    LinkError,
    LinkSetupError,
    LinkSigner,
    claim_once,
    mask_links,
    mask_links_in,
    signer_from,
    used_key,
)
from contract.redaction import RedactingFilter, SecretRegistry
from contract.settings import Settings
from tests.support.fakes import Clock

SECRET = "s" * 24 + "-console-secret"
PUBLIC = "https://klaxon.example.com"
ALERT = "0b7c4f5e-8d2a-5c1b-9e3f-6a7b8c9d0e1f"
T0 = 1_700_000_000.0


def signer(clock: Clock, secret: str = SECRET, ttl: float = 3600.0) -> LinkSigner:
    return LinkSigner(PUBLIC, secret, ttl, clock)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_an_ack_link_verifies_back_to_its_alert() -> None:
    """ack_url is {public_url}/ack/{token}; the token verifies to the alert and its time."""
    clock = Clock(now=T0)
    url = signer(clock).ack_url(ALERT)
    assert url.startswith(f"{PUBLIC}/ack/")
    token = token_of(url)
    clock.now = T0 + 59
    claim = signer(clock).verify(token, LinkAction.ACK)
    assert claim == LinkClaim(LinkAction.ACK, ALERT, T0, token)


def test_a_silence_link_has_its_own_path_and_action() -> None:
    """silence_url is {public_url}/silence-link/{token}, verified as a silence."""
    clock = Clock(now=T0)
    url = signer(clock).silence_url(ALERT)
    assert url.startswith(f"{PUBLIC}/silence-link/")
    claim = signer(clock).verify(token_of(url), LinkAction.SILENCE)
    assert (claim.action, claim.alert_id) == (LinkAction.SILENCE, ALERT)


def test_a_uuid_alert_id_makes_a_short_token() -> None:
    """A uuid is packed into 16 bytes: the whole token fits in a short SMS link."""
    token = signer(Clock(now=T0)).token(ALERT, LinkAction.ACK)
    assert len(token) <= 60
    assert token.isascii() and "/" not in token and "+" not in token and "=" not in token


@pytest.mark.parametrize(
    "alert_id", ["alert-7", "0B7C4F5E-8D2A-5C1B-9E3F-6A7B8C9D0E1F", "caméra/42 ~ x", "~"]
)
def test_any_alert_id_comes_back_exactly(alert_id: str) -> None:
    """Ids that are not a canonical uuid travel as their text, and come back unchanged."""
    clock = Clock(now=T0)
    token = token_of(signer(clock).ack_url(alert_id))
    assert signer(clock).verify(token, LinkAction.ACK).alert_id == alert_id


def test_an_ack_token_is_not_a_silence_token() -> None:
    """Each action signs with its own salt: a token for one is refused for the other."""
    clock = Clock(now=T0)
    ack = token_of(signer(clock).ack_url(ALERT))
    silence = token_of(signer(clock).silence_url(ALERT))
    for token, action in ((ack, LinkAction.SILENCE), (silence, LinkAction.ACK)):
        with pytest.raises(LinkError) as caught:
            signer(clock).verify(token, action)
        assert caught.value.reason == "invalid"


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the signature
        lambda t: ("B" if t[0] != "B" else "C") + t[1:],  # the alert id
        lambda t: t[: len(t) // 2],  # cut short
        lambda t: "",
        lambda t: t + "é",
        lambda t: "x" * 5000,
    ],
)
def test_a_tampered_token_is_refused_as_invalid(change: object) -> None:
    """Any change to a token fails its signature: reason "invalid", a readable message."""
    clock = Clock(now=T0)
    token = token_of(signer(clock).ack_url(ALERT))
    assert callable(change)
    with pytest.raises(LinkError) as caught:
        signer(clock).verify(change(token), LinkAction.ACK)
    assert caught.value.reason == "invalid"
    assert str(caught.value).startswith("This link is not valid")


def test_a_token_signed_with_another_secret_is_refused() -> None:
    """Another deployment's (or an old secret's) links do not verify here."""
    clock = Clock(now=T0)
    token = token_of(signer(clock, secret="o" * 40).ack_url(ALERT))
    with pytest.raises(LinkError) as caught:
        signer(clock).verify(token, LinkAction.ACK)
    assert caught.value.reason == "invalid"


def test_a_link_expires_after_its_ttl_on_the_injected_clock() -> None:
    """Valid up to the TTL, refused as "expired" one second after it; no sleeping."""
    clock = Clock(now=T0)
    token = token_of(signer(clock, ttl=3600).ack_url(ALERT))
    clock.now = T0 + 3600
    assert signer(clock, ttl=3600).verify(token, LinkAction.ACK).alert_id == ALERT
    clock.now = T0 + 3601
    with pytest.raises(LinkError) as caught:
        signer(clock, ttl=3600).verify(token, LinkAction.ACK)
    assert caught.value.reason == "expired"
    assert str(caught.value) == (
        "This link has expired: links work for 1 hour(s) after the notification was sent. "
        "Open the alert in the console instead."
    )


def test_a_token_from_the_future_is_invalid_beyond_a_little_clock_skew() -> None:
    """A bridge clock up to a minute ahead is tolerated; ten minutes ahead is invalid."""
    ahead = token_of(signer(Clock(now=T0 + 30)).ack_url(ALERT))
    assert signer(Clock(now=T0)).verify(ahead, LinkAction.ACK).issued_at == T0 + 30
    token = token_of(signer(Clock(now=T0 + 600)).ack_url(ALERT))
    with pytest.raises(LinkError) as caught:
        signer(Clock(now=T0)).verify(token, LinkAction.ACK)
    assert caught.value.reason == "invalid"


def test_claim_once_is_true_the_first_time_only(redis_client: redis.Redis) -> None:
    """SET NX EX on a digest of the token: the first claim wins, every later one loses."""
    clock = Clock(now=T0)
    token = token_of(signer(clock).ack_url(ALERT))
    claim = signer(clock).verify(token, LinkAction.ACK)
    assert claim_once(redis_client, claim, 3600) is True
    assert claim_once(redis_client, claim, 3600) is False
    key = used_key(token)
    assert token not in key
    assert 3590 <= int(redis_client.ttl(key)) <= 3660
    other = signer(clock).verify(token_of(signer(clock).silence_url(ALERT)), LinkAction.SILENCE)
    assert claim_once(redis_client, other, 3600) is True


def test_signer_from_settings() -> None:
    """No public URL: no links; a public URL without a secret: a clear refusal."""
    assert signer_from(Settings()) is None
    built = signer_from(Settings(public_url=PUBLIC, console_secret=SECRET, link_ttl=60))
    assert built is not None
    assert (built.public_url, built.ttl_seconds) == (PUBLIC, 60)
    assert SECRET not in repr(built)
    with pytest.raises(LinkSetupError, match="KLAXON_CONSOLE_SECRET is not"):
        signer_from(Settings(public_url=PUBLIC))


def test_settings_read_the_three_variables() -> None:
    """The URL loses its trailing slash, the TTL is a duration, the secret never shows."""
    settings = Settings.from_env(
        {
            "KLAXON_PUBLIC_URL": "https://klaxon.example.com/ops/",
            "KLAXON_CONSOLE_SECRET": SECRET,
            "KLAXON_LINK_TTL": "2h",
        }
    )
    assert settings.public_url == "https://klaxon.example.com/ops"
    assert settings.console_secret == SECRET
    assert settings.link_ttl == 7200
    assert SECRET not in repr(settings)
    assert Settings.from_env({}).link_ttl == 24 * 3600


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"KLAXON_PUBLIC_URL": "klaxon.example.com"},
            "KLAXON_PUBLIC_URL='klaxon.example.com' is not an http(s) URL",
        ),
        (
            {"KLAXON_PUBLIC_URL": "ftp://klaxon.example.com"},
            "KLAXON_PUBLIC_URL='ftp://klaxon.example.com' is not an http(s) URL",
        ),
        (
            {"KLAXON_CONSOLE_SECRET": "short-secret"},
            "KLAXON_CONSOLE_SECRET is 12 characters long: it must be at least 32",
        ),
        ({"KLAXON_LINK_TTL": "tomorrow"}, "KLAXON_LINK_TTL: 'tomorrow' is not a duration"),
        ({"KLAXON_LINK_TTL": "0s"}, "KLAXON_LINK_TTL='0s' must be longer than 0s"),
    ],
)
def test_bad_settings_are_clear_errors(env: dict[str, str], message: str) -> None:
    """Each bad value names its variable; a short secret is not echoed."""
    with pytest.raises(SystemExit) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message)
    assert "short-secret" not in str(caught.value)


def test_the_console_secret_is_masked_in_logs() -> None:
    """KLAXON_CONSOLE_SECRET is named like a secret: redaction masks it from the env."""
    registry = SecretRegistry()
    registry.add_env({"KLAXON_CONSOLE_SECRET": SECRET, "KLAXON_PUBLIC_URL": PUBLIC})
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "secret is %s", (SECRET,), None)
    RedactingFilter(registry).filter(record)
    assert record.getMessage() == "secret is ***"
    assert PUBLIC in registry.redact(PUBLIC)


def test_a_used_link_stays_used_as_long_as_it_would_verify(redis_client: redis.Redis) -> None:
    """A token stamped a minute ahead (clock skew) verifies until issued_at + ttl; the
    used-mark, set when it is claimed at once, lasts at least that long."""
    console_clock = Clock(now=T0)
    console = signer(console_clock)
    token = token_of(signer(Clock(now=T0 + 60)).ack_url(ALERT))
    claim = console.verify(token, LinkAction.ACK)
    assert claim_once(redis_client, claim, console.ttl_seconds) is True
    # The last moment verify still accepts the token, on the injected clock.
    console_clock.now = claim.issued_at + console.ttl_seconds
    assert console.verify(token, LinkAction.ACK).alert_id == ALERT
    still_needed = console_clock.now - T0
    assert int(redis_client.ttl(used_key(token))) >= still_needed - 1
    assert claim_once(redis_client, claim, console.ttl_seconds) is False


def test_mask_links_hides_the_token_and_keeps_the_rest() -> None:
    """Each /ack/<token> and /silence-link/<token> loses its token; the URL stays readable."""
    made = signer(Clock(now=T0))
    ack, silence = made.ack_url(ALERT), made.silence_url("plain id ~ with text")
    text = f"Hot. Ack: {ack} or <{silence}|Silence 1h>, see https://x.example/acks/1"
    assert mask_links(text) == (
        f"Hot. Ack: {PUBLIC}/ack/\u2026 or <{PUBLIC}/silence-link/\u2026|Silence 1h>, "
        "see https://x.example/acks/1"
    )
    assert token_of(ack) not in mask_links(ack)
    assert mask_links("no links here") == "no links here"


def test_mask_links_in_reaches_every_string_of_a_payload() -> None:
    """Nested dicts and lists: every string is masked, other values are kept."""
    url = signer(Clock(now=T0)).ack_url(ALERT)
    payload = {"links": {"ack": url}, "variants": [url, 3, None], "n": 1.5}
    assert mask_links_in(payload) == {
        "links": {"ack": f"{PUBLIC}/ack/\u2026"},
        "variants": [f"{PUBLIC}/ack/\u2026", 3, None],
        "n": 1.5,
    }
