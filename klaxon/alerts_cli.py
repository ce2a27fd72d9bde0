"""``klaxon alerts``: active alerts, their history, statistics and clean-up (the seed's CRUD),
and acknowledgement: ack, unack, reject, show."""

from __future__ import annotations

import dataclasses
import getpass
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click
import redis

from alerts.acks import AckBook, AckError, AckRecord
from alerts.humanize import duration
from alerts.store import AlertEvent, AlertStore
from contract.durations import Duration
from contract.outbox import Kind
from contract.settings import Settings
from klaxon.history_cli import history_reader
from klaxon.tables import table, when

if TYPE_CHECKING:  # the history's modules load SQLAlchemy: imported where used
    from history.models import AlertEventRow
    from history.queries import AlertFilter, History


def _client() -> redis.Redis:
    return redis.Redis.from_url(Settings.from_env().redis_url)


def _store() -> AlertStore:
    return AlertStore(_client())


def _as_json(event: AlertEvent, ack: AckRecord | None = None) -> str:
    data = {**dataclasses.asdict(event), "duration_seconds": event.duration}
    if ack is not None:
        data["ack"] = {
            "state": ack.state.value,
            "by": ack.by,
            "at": ack.at,
            "comment": ack.comment,
            "reason": ack.reason,
        }
    return json.dumps(data, default=str)


def _ack_cell(ack: AckRecord | None) -> str:
    """``open``, ``acknowledged by ana``...: what the active table shows per alert."""
    if ack is None:
        return "-"
    return f"{ack.state.value} by {ack.by}" if ack.by and ack.state != "open" else ack.state.value


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _rows(events: list[AlertEvent]) -> list[tuple[object, ...]]:
    return [
        (
            e.id[:8],
            e.rule_id,
            e.device_id,
            e.metric or "-",
            f"{e.operator or ''} {_value(e.threshold_value)}".strip(),
            _value(e.current_value),
            when(e.triggered_at),
            when(e.resolved_at),
            _value(e.resolution_value),
            duration(e.duration) if e.is_resolved else ("open" if e.kind == "hit" else "firing"),
        )
        for e in events
    ]


_HEADERS = [
    "id",
    "rule",
    "device",
    "metric",
    "threshold",
    "value",
    "triggered",
    "resolved",
    "resolution",
    "duration",
]


def _emit(events: list[AlertEvent], as_json: bool, empty: str) -> None:
    if as_json:
        for event in events:
            click.echo(_as_json(event))
    elif events:
        click.echo(table(_HEADERS, _rows(events)))
    else:
        click.echo(empty)


@click.group()
def alerts() -> None:
    """Stateful alerts: what is firing now (Redis), what fired before (the history database)."""


@alerts.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def active(as_json: bool) -> None:
    """Alerts firing now and open hits, oldest first, with their acknowledgement."""
    client = _client()
    events = AlertStore(client).active()
    acks = AckBook(client).get_many([e.id for e in events])
    if as_json:
        for event in events:
            click.echo(_as_json(event, acks.get(event.id)))
    elif events:
        rows = [
            (*row, _ack_cell(acks.get(e.id))) for e, row in zip(events, _rows(events), strict=True)
        ]
        click.echo(table([*_HEADERS, "ack"], rows))
    else:
        click.echo("no active alerts")


def _act(action: str, alert_id: str, by: str | None, note: str) -> None:
    """Run one ack action; an AckError becomes the CLI's error (exit 1), never a traceback."""
    book = AckBook(_client())
    who = by or getpass.getuser()
    try:
        full_id = book.resolve_id(alert_id)
        state = book.act(Kind(action), full_id, who, note, time.time())
    except AckError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"alert {full_id}: {state.value} by {who}")


@alerts.command()
@click.argument("alert_id")
@click.option("--by", default=None, help="Who is on it (default: the login name).")
@click.option("--comment", default="", help="Why, or what is being done.")
def ack(alert_id: str, by: str | None, comment: str) -> None:
    """Acknowledge an alert: its reminders and escalation steps stop."""
    _act("ack", alert_id, by, comment)


@alerts.command()
@click.argument("alert_id")
@click.option("--by", default=None, help="Who (default: the login name).")
@click.option("--comment", default="", help="Why.")
def unack(alert_id: str, by: str | None, comment: str) -> None:
    """Take an acknowledgement back: the alert is open again and its reminders resume."""
    _act("unack", alert_id, by, comment)


@alerts.command()
@click.argument("alert_id")
@click.option("--reason", required=True, help="e.g. misread, wrong-entry, duplicate")
@click.option("--by", default=None, help="Who (default: the login name).")
def reject(alert_id: str, reason: str, by: str | None) -> None:
    """Reject a hit (a misread plate, a wrong hotlist entry): it closes, recorded as such."""
    _act("reject", alert_id, by, reason)


@alerts.command()
@click.argument("alert_id")
def show(alert_id: str) -> None:
    """One alert's record and its history: opened, acks, reminders, escalation, resolve."""
    client = _client()
    book = AckBook(client)
    try:
        full_id = book.resolve_id(alert_id)
    except AckError as exc:
        raise click.ClickException(str(exc)) from None
    event = AlertStore(client).get(full_id)
    if event is not None:
        click.echo(_as_json(event, book.get(full_id)))
    for entry in book.history(full_id):
        click.echo(json.dumps(entry))


@alerts.command()
@click.option("--rule", "rule_id", default=None)
@click.option("--device", default=None, help="The device id (or other state key).")
@click.option("--since", type=Duration(), default=None, help="e.g. 24h, 7d")
@click.option("--resolved/--unresolved", "resolved", default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def history(
    rule_id: str | None,
    device: str | None,
    since: float | None,
    resolved: bool | None,
    as_json: bool,
) -> None:
    """Alert events from the history database, by trigger time, oldest first."""
    from history.queries import AlertFilter
    from history.views import alert_view

    start = None if since is None else time.time() - since
    where = AlertFilter(rule_id=rule_id, device_id=device, since=start, resolved=resolved)
    rows = list(reversed(list(_all_alerts(history_reader(), where))))
    if as_json:
        for row in rows:
            click.echo(json.dumps(alert_view(row)))
    elif rows:
        click.echo(table(_HEADERS, [_history_row(r) for r in rows]))
    else:
        click.echo("no alert events")


def _all_alerts(reader: History, where: AlertFilter) -> Iterator[AlertEventRow]:
    from history.queries import MAX_PAGE

    cursor: str | None = None
    while True:
        page = reader.alerts(where, limit=MAX_PAGE, cursor=cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _history_row(e: AlertEventRow) -> tuple[object, ...]:
    return (
        e.id[:8],
        e.rule_id,
        e.device_id,
        e.metric or "-",
        f"{e.operator or ''} {_value(e.threshold_value)}".strip(),
        _value(e.current_value),
        when(e.triggered_at),
        when(e.resolved_at),
        _value(e.resolution_value),
        duration(e.resolved_at - e.triggered_at) if e.resolved_at is not None else "firing",
    )


@alerts.command()
@click.option("--since", type=Duration(), default=None, help="e.g. 24h, 7d")
@click.option("--json", "as_json", is_flag=True)
def stats(since: float | None, as_json: bool) -> None:
    """Per rule: alerts triggered, resolved, firing, and the mean time to resolve."""
    start = None if since is None else time.time() - since
    summary = history_reader().stats(start)
    if as_json:
        click.echo(json.dumps(summary))
        return
    if not summary:
        click.echo("no alert events")
        return
    rows = [
        (
            s["rule_id"],
            s["triggered"],
            s["resolved"],
            s["firing"],
            duration(s["mean_time_to_resolve_seconds"]),
        )
        for s in summary
    ]
    click.echo(table(["rule", "triggered", "resolved", "firing", "mean time to resolve"], rows))


@alerts.command()
@click.option("--older-than", type=Duration(), required=True, help="e.g. 30d")
def cleanup(older_than: float) -> None:
    """Delete resolved alert events triggered before the given age; firing ones stay."""
    removed = history_reader().cleanup(time.time() - older_than)
    click.echo(f"deleted {removed} alert event(s)")
