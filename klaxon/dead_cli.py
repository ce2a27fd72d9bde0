"""``klaxon dead``: list, show, requeue and purge notifications that could not be sent."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from typing import TYPE_CHECKING

import click
import redis

from contract.durations import Duration
from contract.settings import Settings
from klaxon.tables import table, when
from tasks.deadletters import DeadLetter, DeadLetterStore

if TYPE_CHECKING:
    from celery import Celery


def _store() -> DeadLetterStore:
    return DeadLetterStore(redis.Redis.from_url(Settings.from_env().redis_url))


def requeue(store: DeadLetterStore, letter: DeadLetter, app: Celery | None = None) -> None:
    """Publish the dead notification again under its own id; the sent-ledger still holds.

    ``app``: the Celery app to publish with (default: the workers' app, from REDIS_URL).
    """
    from contract.queues import queue_for

    if app is None:
        from tasks import app as workers_app

        app = workers_app
    queue = queue_for(letter.channel)
    app.send_task(
        queue, args=[letter.notification], task_id=letter.id, queue=queue, ignore_result=True
    )
    store.remove(letter.id)


@click.group()
def dead() -> None:
    """Dead letters: notifications that failed permanently or ran out of retries."""


@dead.command("list")
@click.option("--channel", default=None)
@click.option("--rule", "rule_id", default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_(channel: str | None, rule_id: str | None, as_json: bool) -> None:
    """List dead letters, oldest first."""
    letters = [
        letter
        for letter in _store()
        if (channel is None or letter.channel == channel)
        and (rule_id is None or letter.rule_id == rule_id)
    ]
    if as_json:
        for letter in letters:
            click.echo(json.dumps(dataclasses.asdict(letter), default=str))
        return
    if not letters:
        click.echo("no dead letters")
        return
    rows = [
        (d.id, d.channel, d.rule_id, d.reason, d.attempts, when(d.last_failure_at), d.error)
        for d in letters
    ]
    click.echo(
        table(["id", "channel", "rule", "reason", "attempts", "last failure", "error"], rows)
    )


@dead.command()
@click.argument("letter_id")
def show(letter_id: str) -> None:
    """Show one dead letter in full."""
    letter = _store().get(letter_id)
    if letter is None:
        click.echo(f"no dead letter {letter_id}", err=True)
        sys.exit(1)
    click.echo(json.dumps(dataclasses.asdict(letter), indent=2, default=str))


@dead.command("requeue")
@click.argument("letter_id", required=False)
@click.option("--all", "everything", is_flag=True, help="Requeue every dead letter.")
@click.option("--channel", default=None, help="With --all: only this channel.")
def requeue_cmd(letter_id: str | None, everything: bool, channel: str | None) -> None:
    """Send dead letters again (after fixing the receiver)."""
    if bool(letter_id) == everything:
        raise click.UsageError("give one ID or --all")
    store = _store()
    if letter_id:
        letter = store.get(letter_id)
        if letter is None:
            click.echo(f"no dead letter {letter_id}", err=True)
            sys.exit(1)
        letters = [letter]
    else:
        letters = [d for d in store if channel is None or d.channel == channel]
    for letter in letters:
        requeue(store, letter)
    click.echo(f"requeued {len(letters)} notification(s)")


@dead.command()
@click.argument("letter_id", required=False)
@click.option("--older-than", type=Duration(), default=None, help="e.g. 7d")
def purge(letter_id: str | None, older_than: float | None) -> None:
    """Delete one dead letter, or all older than a duration."""
    if bool(letter_id) == (older_than is not None):
        raise click.UsageError("give one ID or --older-than")
    store = _store()
    ids = [letter_id] if letter_id else store.older_than(time.time() - (older_than or 0))
    removed = sum(1 for i in ids if i and store.remove(i))
    click.echo(f"purged {removed} dead letter(s)")
