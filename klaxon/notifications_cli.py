"""``klaxon notifications list/show``: the delivery log, from the history database."""

from __future__ import annotations

import json
import sys
import time

import click

from contract.durations import Duration
from contract.outbox import NotificationStatus
from klaxon.history_cli import history_reader
from klaxon.tables import table, when


@click.group()
def notifications() -> None:
    """What was sent, to whom, when, and whether it arrived."""


@notifications.command("list")
@click.option("--rule", "rule_id", default=None)
@click.option("--channel", default=None)
@click.option("--status", type=click.Choice([s.value for s in NotificationStatus]), default=None)
@click.option("--since", type=Duration(), default=None, help="e.g. 1h, 7d")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_(
    rule_id: str | None,
    channel: str | None,
    status: str | None,
    since: float | None,
    limit: int,
    as_json: bool,
) -> None:
    """Notifications, newest first."""
    from history.queries import NotificationFilter
    from history.views import notification_view

    start = None if since is None else time.time() - since
    where = NotificationFilter(rule_id=rule_id, channel=channel, status=status, since=start)
    rows = history_reader().notifications(where, limit=limit).items
    if as_json:
        for row in rows:
            click.echo(json.dumps(notification_view(row)))
        return
    if not rows:
        click.echo("no notifications")
        return
    click.echo(
        table(
            ["id", "rule", "channel", "status", "created", "updated", "recipients", "reason"],
            [
                (
                    n.id,
                    n.rule_id,
                    n.channel,
                    n.status,
                    when(n.created_at),
                    when(n.updated_at),
                    ", ".join(n.recipients) or "-",
                    n.reason or "-",
                )
                for n in rows
            ],
        )
    )


@notifications.command()
@click.argument("notification_id")
@click.option("--json", "as_json", is_flag=True)
def show(notification_id: str, as_json: bool) -> None:
    """One notification and every delivery attempt, in order."""
    from history.views import attempt_view, notification_view

    reader = history_reader()
    row = reader.notification(notification_id)
    if row is None:
        click.echo(f"no notification {notification_id} in the history", err=True)
        sys.exit(1)
    attempts = [attempt_view(i, a) for i, a in enumerate(reader.attempts(notification_id), 1)]
    if as_json:
        click.echo(json.dumps({**notification_view(row), "attempts": attempts}, indent=2))
        return
    recipients = ", ".join(row.recipients) or "(the channel's defaults)"
    click.echo(f"notification {row.id}")
    click.echo(f"  rule {row.rule_id}, channel {row.channel}, transition {row.transition or '-'}")
    click.echo(f"  recipients {recipients}")
    click.echo(f"  status {row.status}{f' ({row.reason})' if row.reason else ''}")
    click.echo(f"  queued {when(row.created_at)}, last change {when(row.updated_at)}")
    if not attempts:
        click.echo("  no delivery attempt yet")
        return
    click.echo(
        table(
            ["#", "outcome", "started", "finished", "reason", "error"],
            [
                (
                    a["number"],
                    a["outcome"],
                    when(_float(a["started_at"])),
                    when(_float(a["finished_at"])),
                    a["reason"] or "-",
                    a["error"] or "-",
                )
                for a in attempts
            ],
            max_width=80,
        )
    )


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
