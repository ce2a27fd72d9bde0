"""``klaxon watchlist``: check a hotlist CSV before it goes live; count a configured list."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import click

from contract.settings import Settings

# Expired entries listed by ``stats`` before it only counts the rest.
SHOWN_EXPIRED = 20


@click.group()
def watchlist() -> None:
    """Plate hotlists (the watchlists section of the rules file)."""


@watchlist.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--wildcards", is_flag=True, help="Allow * and ? in plates (a wildcard list).")
def check(file: Path, wildcards: bool) -> None:
    """Validate a hotlist CSV; exit 1 naming the row of every error."""
    from rules.watchlists.sources import read_csv

    table, problems = read_csv(file, wildcards)
    for problem in problems:
        where = f"row {problem.row}" if problem.row else "file"
        click.echo(f"error: {file} {where}: {problem.message}")
    if table is None:
        click.echo(f"{file}: {len(problems)} error(s)")
        sys.exit(1)
    expired = len(table.expired(time.time()))
    click.echo(
        f"{file}: OK: {len(table)} entr{'y' if len(table) == 1 else 'ies'}, {expired} expired"
    )


@watchlist.command()
@click.argument("name")
@click.option(
    "--config",
    "path",
    type=click.Path(path_type=Path),
    help="The rules file (default: RULES_CONFIG_PATH).",
)
def stats(name: str, path: Path | None) -> None:
    """Print a configured list's entry count and its expired entries."""
    from rules.config import check_config

    settings = Settings.from_env()
    path = path or settings.rules_config_path
    config, problems = check_config(path, default_topic=settings.kafka_topic)
    if config is None:
        for problem in problems:
            if not problem.warning:
                click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    found = config.watchlists.get(name)
    if found is None:
        known = ", ".join(sorted(config.watchlists)) or "none"
        click.echo(f'{path}: no watchlist "{name}" (known: {known})', err=True)
        sys.exit(1)
    expired = found.table.expired(time.time())
    mode = found.matcher.mode
    click.echo(f"{name}: {len(found.table)} entries, {len(expired)} expired")
    click.echo(
        f"source: {found.file or 'inline'}; confusables: "
        f"{'on' if mode.confusables else 'off'}; max_distance: {mode.max_distance}; "
        f"wildcards: {'on' if mode.wildcards else 'off'}; "
        f"fuzzy index: {found.matcher.index_bytes / 2**20:.1f} MiB"
    )
    for entry in expired[:SHOWN_EXPIRED]:
        when = dt.datetime.fromtimestamp(entry.expires_at, dt.UTC).isoformat()
        click.echo(f"expired: {entry.plate} at {when} {entry.columns.get('reason') or ''}".rstrip())
    if len(expired) > SHOWN_EXPIRED:
        click.echo(f"... and {len(expired) - SHOWN_EXPIRED} more expired")
