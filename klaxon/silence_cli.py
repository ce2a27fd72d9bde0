"""``klaxon silence``: add, list and expire silences (alerts.muting.silences).

A silence stops every notification its matchers all match, on every bridge and worker,
within about a second of being added; it is recorded in the outbox with its id.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import sys
import time

import click
import redis

from alerts.muting.silences import SilenceStore
from contract.durations import Duration
from contract.settings import Settings
from klaxon.api.silence_input import DurationError, parse_matchers, silence_seconds
from klaxon.tables import table, when


def _store() -> SilenceStore:
    url = Settings.from_env().redis_url
    return SilenceStore(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5))


@click.group()
def silence() -> None:
    """Silences: stop the notifications that match, for a while."""


@silence.command()
@click.option(
    "--match",
    "matchers",
    multiple=True,
    required=True,
    help="NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX; NAME is rule_id, priority, "
    "channel or an event path (camera_id, plate.normalized_text). Repeat: all must match.",
)
@click.option("--for", "seconds", type=Duration(), required=True, help="e.g. 30m, 2h, 1d")
@click.option("--comment", default="", help="Why (shown by list).")
@click.option("--by", "created_by", default=None, help="Who (default: the login name).")
def add(matchers: tuple[str, ...], seconds: float, comment: str, created_by: str | None) -> None:
    """Add a silence from now; print its id."""
    # The same checks and bounds as the API and the console (klaxon.api.silence_input).
    _, bad = parse_matchers(matchers)
    if bad:
        raise click.BadParameter("; ".join(message for _, message in bad), param_hint="--match")
    try:
        seconds = silence_seconds(seconds)
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    who = created_by if created_by is not None else getpass.getuser()
    try:
        added = _store().add(list(matchers), seconds, comment, who)
    except redis.RedisError as exc:
        click.echo(f"error: redis unreachable: {exc}", err=True)
        sys.exit(1)
    click.echo(added.id)


@silence.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--all", "show_all", is_flag=True, help="Expired silences too.")
def list_(as_json: bool, show_all: bool) -> None:
    """List the active and pending silences (and expired ones with --all)."""
    now = time.time()
    try:
        silences = _store().all()
    except redis.RedisError as exc:
        click.echo(f"error: redis unreachable: {exc}", err=True)
        sys.exit(1)
    shown = [s for s in silences if show_all or s.state(now) != "expired"]
    if as_json:
        for s in shown:
            record = {**dataclasses.asdict(s), "matchers": list(s.matchers)}
            click.echo(json.dumps({**record, "state": s.state(now)}))
        return
    if not shown:
        click.echo("no silences")
        return
    rows = [
        (
            s.id,
            s.state(now),
            " ".join(s.matchers),
            when(s.starts_at),
            when(s.ends_at),
            s.created_by,
            s.comment,
        )
        for s in shown
    ]
    click.echo(table(["id", "state", "matchers", "starts", "ends", "by", "comment"], rows))


@silence.command()
@click.argument("silence_id")
@click.option("--by", "expired_by", default=None, help="Who (default: the login name).")
def expire(silence_id: str, expired_by: str | None) -> None:
    """End a silence now."""
    who = expired_by if expired_by is not None else getpass.getuser()
    try:
        ended = _store().expire(silence_id, by=who)
    except redis.RedisError as exc:
        click.echo(f"error: redis unreachable: {exc}", err=True)
        sys.exit(1)
    if ended is None:
        click.echo(f'error: no silence "{silence_id}" (see klaxon silence list --all)', err=True)
        sys.exit(1)
    click.echo(f"expired {ended.id}")
