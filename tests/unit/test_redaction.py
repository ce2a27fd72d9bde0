"""The redacting log filter: values from the config and the environment, in every form."""

from __future__ import annotations

import base64
import io
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contract.redaction import SECRETS, RedactingFilter, SecretRegistry, install
from contract.secret_forms import env_secrets, settings_secrets
from contract.settings import Settings
from rules.config import load_config
from tasks import runtime as runtime_module
from tasks.channels.webhook import WebhookSettings
from tasks.runtime import WorkerRuntime
from tests.support import yamlfile

SLACK_URL = "https://hooks.example.com/services/T0AB12CD/B0XY34ZW/abcdefghijklmnopqrstuvwx"
TOKEN = "tok-3f9a1c77e2b4"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Captured:
    logger: logging.Logger
    stream: io.StringIO
    registry: SecretRegistry

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def captured() -> Iterator[Captured]:
    """A logger whose one handler carries the filter, with a registry of its own."""
    registry = SecretRegistry()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(registry))
    logger = logging.getLogger(f"test.redaction.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield Captured(logger, stream, registry)
    logger.removeHandler(handler)


def test_secrets_in_format_arguments_are_masked(captured: Captured) -> None:
    """A secret passed as a %s argument is masked in the output, and args are dropped."""
    captured.registry.add([SLACK_URL])
    records: list[logging.LogRecord] = []
    captured.logger.addFilter(lambda r: records.append(r) or True)
    captured.logger.debug("posting to %s (%d bytes)", SLACK_URL, 531)
    assert captured.text() == "posting to *** (531 bytes)\n"
    assert records[0].args is None


def test_non_string_arguments_are_formatted_then_masked(captured: Captured) -> None:
    """Dicts, tuples, bytes and objects whose str holds a secret are masked after formatting."""
    captured.registry.add([TOKEN])

    class Holder:
        def __str__(self) -> str:
            return f"holder({TOKEN})"

    captured.logger.info("headers %r", {"Authorization": f"Bearer {TOKEN}"})
    captured.logger.info("sent %s %s", b"token=" + TOKEN.encode(), Holder())
    captured.logger.info("%(a)s and %(b)d", {"a": (TOKEN, 1), "b": 7})
    text = captured.text()
    assert TOKEN not in text
    assert "headers {'Authorization': 'Bearer ***'}" in text
    assert "sent b'token=***' holder(***)" in text
    assert "('***', 1) and 7" in text


def test_tracebacks_are_masked_and_kept(captured: Captured) -> None:
    """An exception's text (exc_info) is masked; the traceback is still printed."""
    captured.registry.add([SLACK_URL])
    try:
        raise ConnectionError(f"cannot reach {SLACK_URL}")
    except ConnectionError:
        captured.logger.exception("send failed")
    text = captured.text()
    assert "Traceback (most recent call last)" in text
    assert "ConnectionError: cannot reach ***" in text
    assert "abcdefghijklmnopqrstuvwx" not in text


def test_secrets_added_after_the_filter_was_installed_are_masked(captured: Captured) -> None:
    """The filter reads the registry at each record: a secret loaded later is masked."""
    captured.logger.info("token %s", TOKEN)
    captured.registry.add([TOKEN])
    captured.logger.info("token %s", TOKEN)
    assert captured.text().splitlines() == [f"token {TOKEN}", "token ***"]


def test_encoded_forms_and_url_parts_are_masked(captured: Captured) -> None:
    """Basic auth and AUTH PLAIN base64, percent-encoding and the webhook path are masked."""
    password = "p@ss word/42+x"
    captured.registry.add([password, SLACK_URL])
    lines = [
        f"Authorization: Basic {b64('someone:' + password)}",
        f"send: 'AUTH PLAIN {b64(chr(0) + 'me@example.com' + chr(0) + password)}'",
        "url: https://h/?pw=p%40ss%20word%2F42%2Bx",
        '"POST /services/T0AB12CD/B0XY34ZW/abcdefghijklmnopqrstuvwx HTTP/1.1" 500',
        "key alone: abcdefghijklmnopqrstuvwx",
    ]
    for line in lines:
        captured.logger.info(line)
    text = captured.text()
    assert text.splitlines() == [
        "Authorization: Basic ***",
        "send: 'AUTH PLAIN ***'",
        "url: https://h/?pw=***",
        '"POST *** HTTP/1.1" 500',
        "key alone: ***",
    ]


def test_known_secret_shapes_are_masked_without_knowing_the_value(captured: Captured) -> None:
    """Slack webhook paths, bearer tokens and URL passwords are masked by shape alone."""
    captured.logger.info("https://hooks.slack.com/services/T1/B2/zzzzzzzz failed")
    captured.logger.info("Authorization: Bearer abc.def-ghi_jkl")
    captured.logger.info("redis://user:hunter22@redis:6379/0")
    assert captured.text().splitlines() == [
        "https://hooks.slack.com/services/*** failed",
        "Authorization: Bearer ***",
        "redis://***@redis:6379/0",
    ]


def test_a_bad_format_string_does_not_print_the_arguments_raw(captured: Captured) -> None:
    """A record whose args do not fit its format is still masked, not dumped by handleError."""
    captured.registry.add([TOKEN])
    captured.logger.info("two %s %s", TOKEN)  # noqa: PLE1206 - the mistake under test
    text = captured.text()
    assert TOKEN not in text and "***" in text


def test_short_values_and_ordinary_path_words_are_left_alone(captured: Captured) -> None:
    """Values under 6 characters and words such as 'services' are not masked everywhere."""
    captured.registry.add(["abc", SLACK_URL])
    captured.logger.info("abc services are up")
    assert captured.text() == "abc services are up\n"


def every_handler() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return [h for lg in loggers if isinstance(lg, logging.Logger) for h in lg.handlers]


def redacting(handler: logging.Handler) -> bool:
    return any(isinstance(f, RedactingFilter) for f in handler.filters)


def test_records_of_child_loggers_are_masked_at_the_root_handler() -> None:
    """install() filters every handler: urllib3's records, propagated to root, are masked."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    child = logging.getLogger("urllib3.connectionpool")
    old_level = child.level
    child.setLevel(logging.DEBUG)
    # install() reaches pytest's own handlers too: take the filter off them afterwards.
    unfiltered = [h for h in every_handler() if not redacting(h)]
    try:
        install()
        SECRETS.add([TOKEN])
        child.debug('"POST /hook?token=%s HTTP/1.1" 200', TOKEN)
    finally:
        child.setLevel(old_level)
        root.removeHandler(handler)
        for other in unfiltered:
            for added in [f for f in other.filters if isinstance(f, RedactingFilter)]:
                other.removeFilter(added)
    assert stream.getvalue() == '"POST /hook?token=*** HTTP/1.1" 200\n'


def test_settings_secrets_reads_the_fields_marked_secret() -> None:
    """repr=False fields are secrets; of headers, only those named like credentials."""
    settings = WebhookSettings(
        url="https://example.com/hook?token=abc",
        headers={"Content-Type": "application/json", "X-Api-Key": "key-123456"},
        basic_auth=("user", "pw-123456"),
        signing_secret="whsec_c2VjcmV0c2VjcmV0",
    )
    assert settings_secrets(settings) == {
        "https://example.com/hook?token=abc",
        "key-123456",
        "user",
        "pw-123456",
        "whsec_c2VjcmV0c2VjcmV0",
    }
    assert env_secrets({"SMTP_PASSWORD": "x1", "HOME": "/root"}) == {"x1"}


def test_worker_runtime_adds_the_secrets_of_each_config_it_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed rules file's new webhook token is masked as soon as the worker loads it."""
    path = tmp_path / "rules.yaml"
    rule = {
        "id": "r",
        "notify": ["webhook"],
        "message_template": "m",
        "conditions": [{"field": "camera_id", "operator": "exists"}],
    }

    def write(token: str, mtime: float) -> None:
        hook = {"url": "http://127.0.0.1:1/hook", "auth": {"type": "bearer", "token": token}}
        path.write_text(yamlfile.dump({"notifications": {"webhook": hook}, "rules": [rule]}))
        os.utime(path, (mtime, mtime))

    first, second = f"first-{uuid.uuid4().hex}", f"second-{uuid.uuid4().hex}"
    monkeypatch.setattr(runtime_module, "CHECK_SECONDS", 0.0)
    write(first, 1_000)
    runtime = WorkerRuntime(Settings(rules_config_path=path))
    runtime.preload()
    assert first in SECRETS.values and second not in SECRETS.values
    write(second, 2_000)
    runtime.channel("webhook")
    assert SECRETS.redact(f"{first} {second}") == "*** ***"


def test_push_channel_keys_and_tokens_are_masked_in_logs(
    captured: Captured, tmp_path: Path
) -> None:
    """ntfy's access token and Pushover's app and user keys, loaded from a config, are masked."""
    ntfy_token = f"tk_{uuid.uuid4().hex[:29]}"
    app_token = uuid.uuid4().hex[:30]
    user_key = uuid.uuid4().hex[:30]
    notifications = {
        "ntfy": {"topic": "alerts", "access_token": ntfy_token},
        "pushover": {"app_token": app_token, "user_key": user_key},
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yamlfile.dump({"notifications": notifications, "rules": []}))
    config = load_config(path)

    captured.registry.add_channels(config.channels)
    captured.logger.info(
        "ntfy %s pushover %s/%s topic %s", ntfy_token, app_token, user_key, "alerts"
    )

    assert captured.text().strip() == "ntfy *** pushover ***/*** topic alerts"
    for secret in (ntfy_token, app_token, user_key):
        assert secret not in repr(config.channels)
