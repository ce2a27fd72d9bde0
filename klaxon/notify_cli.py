"""``klaxon notify test``: a clearly marked test notification through the real path.

It is published on the channel's queue like any alert, a worker takes it, the channel
sends it, and the sent-ledger or the dead letters tell the outcome, which is printed.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from typing import TYPE_CHECKING

import click
import redis

from contract.settings import Settings

# The rules and metrics are imported by the command, not here: ``klaxon worker`` imports
# this module too, and must choose Prometheus's multiprocess mode before any metric exists.
if TYPE_CHECKING:
    from rules.model import BaseRule
    from rules.templates import Template

TEST_MESSAGE = (
    "[TEST] Klaxon test notification on {channel}{for_rule}: no action needed "
    "(klaxon notify test, {sent_at})"
)
TEST_SUBJECT = "[TEST] Klaxon test notification"


def _sender(
    channel: str,
    rule: BaseRule | None = None,
) -> BaseRule:
    """Who a test notification comes from: Klaxon itself, or ``rule`` (its recipients)."""
    from rules.model import BaseRule

    recipients = rule.recipients if rule is not None else {}
    return BaseRule(
        id=rule.id if rule is not None else "klaxon-notify-test",
        name=rule.name if rule is not None else "Klaxon test",
        enabled=True,
        priority=rule.priority if rule is not None else "low",
        source="klaxon.notify-test",
        channels=(channel,),
        message_template=_template(TEST_MESSAGE),
        subject_template=_template(TEST_SUBJECT),
        recipients={channel: recipients[channel]} if channel in recipients else {},
    )


def _template(text: str) -> Template:
    from rules.templates import compile_template

    return compile_template(text)


@click.group()
def notify() -> None:
    """Notifications by hand."""


@notify.command("test")
@click.option("--channel", required=True, help="The channel to test, e.g. slack.")
@click.option("--rule", "rule_id", default=None, help="Send as this rule (its recipients).")
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for it."
)
def test(channel: str, rule_id: str | None, timeout: float) -> None:
    """Send a marked test notification via the queue and a worker; print the outcome."""
    from contract.notification import Source, TransitionKind
    from contract.problems import ConfigInvalid
    from contract.publisher import CeleryPublisher
    from rules.compose import compose
    from rules.config import load_config
    from tasks import app
    from tasks.deadletters import DeadLetterStore
    from tasks.ledger import RedisLedger

    settings = Settings.from_env()
    try:
        config = load_config(settings.rules_config_path, default_topic=settings.kafka_topic)
    except ConfigInvalid as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    configured = config.channels.get(channel)
    if configured is None or not configured.enabled:
        state = "not configured" if configured is None else "disabled"
        enabled = sorted(name for name, c in config.channels.items() if c.enabled)
        click.echo(
            f"error: channel {channel!r} is {state} in {settings.rules_config_path} "
            f"(configured and enabled: {', '.join(enabled) or 'none'})",
            err=True,
        )
        sys.exit(2)
    sender = _sender(channel)
    if rule_id is not None:
        rule = next((r for r in config.rules if r.id == rule_id), None)
        if rule is None:
            click.echo(f"error: no rule {rule_id!r} in {settings.rules_config_path}", err=True)
            sys.exit(2)
        if channel not in rule.channels:
            click.echo(f"error: rule {rule_id!r} does not notify {channel}", err=True)
            sys.exit(2)
        sender = _sender(channel, rule)
    now = time.time()
    sent_at = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds")
    (notification,) = compose(
        sender,
        sender.message_template,
        {"test": True},
        Source(f"klaxon.notify-test/{uuid.uuid4()}", 0, 0),
        sent_at,
        transition=TransitionKind.TEST,
        values={
            "channel": channel,
            "for_rule": f" for rule {rule_id}" if rule_id else "",
            "sent_at": sent_at,
        },
    )
    CeleryPublisher(app).publish([notification])
    click.echo(f"test notification {notification.id} queued on {channel}")
    client = redis.Redis.from_url(settings.redis_url)
    ledger, dead = RedisLedger(client, notification.id), DeadLetterStore(client)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ledger.is_sent():
            click.echo(f"sent: {channel} accepted the test notification")
            return
        letter = dead.get(notification.id)
        if letter is not None:
            click.echo(f"failed: {letter.reason}: {letter.error}", err=True)
            sys.exit(1)
        time.sleep(0.2)  # polling Redis: the worker records the outcome there
    attempts = dead.failures(notification.id)
    click.echo(
        f"no outcome within {timeout:g}s ({attempts} failed attempt(s) so far): "
        f"is a worker serving notify.{channel}?",
        err=True,
    )
    sys.exit(1)
