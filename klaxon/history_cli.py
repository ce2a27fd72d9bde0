"""``klaxon db upgrade`` and ``klaxon recorder``: the history database and what fills it."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING

import click

from contract import logs
from contract.settings import Settings

if TYPE_CHECKING:
    from history.queries import History


def history_engine_url() -> str:
    from history.database import database_url

    return database_url(Settings.from_env())


def history_reader() -> History:
    """The history database, for reading; exits with a clear error when it cannot be used."""
    from sqlalchemy.exc import SQLAlchemyError

    from history.database import DatabaseUrlError, make_engine
    from history.migrate import current, upgrade
    from history.queries import History

    try:
        url = history_engine_url()
        if url.startswith("sqlite"):
            upgrade(url)  # a local file: create it on first use
        elif current(url) is None:
            click.echo(
                "error: the history database has no tables yet: run `klaxon db upgrade`", err=True
            )
            sys.exit(2)
        return History(make_engine(url))
    except DatabaseUrlError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except SQLAlchemyError as exc:
        click.echo(f"error: cannot read the history database: {exc}", err=True)
        sys.exit(2)


@click.group()
def db() -> None:
    """The history database (KLAXON_DATABASE_URL; SQLite in KLAXON_DATA_DIR by default)."""


@db.command()
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Create or migrate the history tables (Alembic)."""
    from sqlalchemy.exc import SQLAlchemyError

    from history.database import DatabaseUrlError
    from history.migrate import current
    from history.migrate import upgrade as run_upgrade

    try:
        url = history_engine_url()
        run_upgrade(url, revision)
        click.echo(f"history database at revision {current(url)}")
    except (DatabaseUrlError, SQLAlchemyError) as exc:
        click.echo(f"error: cannot migrate the history database: {exc}", err=True)
        sys.exit(2)


@click.command()
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--name", default=None, help="Consumer name (default: the host name).")
@click.option("--verbose", "-v", is_flag=True)
def recorder(batch_size: int, name: str | None, verbose: bool) -> None:
    """Move the Redis outbox into the history database, in batches, losing nothing."""
    import redis

    from contract.faults import crash_point
    from contract.health import serve
    from history import recorder as recorder_module
    from history.database import DatabaseUrlError, make_engine
    from history.migrate import upgrade as run_upgrade

    logs.setup(verbose)
    settings = Settings.from_env()
    try:
        url = history_engine_url()
        engine = make_engine(url)
    except DatabaseUrlError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if url.startswith("sqlite"):
        # A file of our own: create it; a shared server is migrated by `klaxon db upgrade`.
        run_upgrade(url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fault = settings.fault
    worker = recorder_module.Recorder(
        redis.Redis.from_url(settings.redis_url),
        engine,
        consumer=name or socket.gethostname(),
        batch_size=batch_size,
        after_commit=lambda: crash_point("recorder_after_commit", fault),
    )
    if settings.recorder_port:
        try:
            serve(
                settings.recorder_port,
                lambda: (worker.database_ok, "ok" if worker.database_ok else "database down"),
            )
        except OSError as exc:
            click.echo(
                f"error: cannot serve metrics on port {settings.recorder_port} "
                f"(KLAXON_RECORDER_PORT): {exc.strerror}",
                err=True,
            )
            sys.exit(2)
    click.echo(f"recorder: outbox -> {engine.url.render_as_string(hide_password=True)}", err=True)
    worker.run(stop)
    click.echo(
        f"recorder stopped: {worker.stats.recorded} entries in {worker.stats.batches} batch(es)",
        err=True,
    )
