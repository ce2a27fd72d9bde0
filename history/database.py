"""Which database the history lives in, and the engine to reach it.

``KLAXON_DATABASE_URL`` picks it (any SQLAlchemy URL: ``postgresql+psycopg://...``); by
default a SQLite file ``history.db`` in the data directory (``KLAXON_DATA_DIR``).
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError

from contract.settings import Settings


class DatabaseUrlError(ValueError):
    """KLAXON_DATABASE_URL cannot be used."""


def database_url(settings: Settings) -> str:
    """The history's URL; the SQLite default creates its data directory."""
    if settings.database_url:
        return settings.database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.data_dir / 'history.db'}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; PostgreSQL URLs without a driver use psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(f"KLAXON_DATABASE_URL={url!r} is not a database URL") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseUrlError(
            f"KLAXON_DATABASE_URL: {parsed.get_backend_name()!r} is not supported "
            "(use sqlite:/// or postgresql://)"
        )
    return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def _sqlite_pragmas(connection: DBAPIConnection, _record: object) -> None:
    # WAL lets the API read while the recorder writes; NORMAL sync is safe with WAL.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
