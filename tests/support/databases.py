"""Databases for the history tests: a SQLite file, and a throwaway PostgreSQL database.

PostgreSQL, in order: ``KLAXON_TEST_DATABASE_URL``; else a server on 127.0.0.1:5432 that
answers (user ``postgres``, or ``PGUSER``), in which a database of this run's own is created
and dropped; else a cluster of our own started with ``initdb``/``pg_ctl`` when those binaries
are installed and we are not root. Only then is PostgreSQL skipped, with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from history.migrate import upgrade
from tests.support.servers import free_port, port_open
from tests.support.wait import wait_until


class Unavailable(Exception):
    """No PostgreSQL could be found or started; the message says why."""


def _server_url(host: str, port: int, user: str, database: str) -> str:
    return f"postgresql+psycopg://{user}@{host}:{port}/{database}"


@contextmanager
def _throwaway_database(host: str, port: int, user: str) -> Iterator[str]:
    name = f"klaxon_test_{uuid.uuid4().hex[:12]}"
    dsn = f"host={host} port={port} user={user} dbname=postgres connect_timeout=3"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _server_url(host, port, user, name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _own_cluster() -> Iterator[str]:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        raise Unavailable("no PostgreSQL on 127.0.0.1:5432 and no initdb/pg_ctl on PATH")
    if os.geteuid() == 0:
        raise Unavailable("no PostgreSQL on 127.0.0.1:5432, and initdb refuses to run as root")
    with tempfile.TemporaryDirectory(prefix="klaxon-pg-") as workdir:
        data = Path(workdir) / "data"
        subprocess.run(
            [initdb, "-D", str(data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        port = free_port()
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1"
        subprocess.run(
            [pg_ctl, "-D", str(data), "-o", options, "-l", f"{workdir}/log", "-w", "start"],
            check=True,
            capture_output=True,
        )
        try:
            wait_until(lambda: port_open(port), timeout=30, message=f"postgres on {port}")
            with _throwaway_database("127.0.0.1", port, "postgres") as url:
                yield url
        finally:
            subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False)


@contextmanager
def postgres_url() -> Iterator[str]:
    """A migrated, empty PostgreSQL database for this run; raises Unavailable with the reason."""
    given = os.environ.get("KLAXON_TEST_DATABASE_URL", "").strip()
    if given:
        upgrade(given)
        yield given
        return
    if port_open(5432):
        user = os.environ.get("PGUSER", "postgres")
        try:
            context = _throwaway_database("127.0.0.1", 5432, user)
            url = context.__enter__()
        except psycopg.Error as exc:
            raise Unavailable(
                f"PostgreSQL on 127.0.0.1:5432 refused user {user!r}: {exc}"
            ) from None
        try:
            upgrade(url)
            yield url
        finally:
            context.__exit__(None, None, None)
        return
    with _own_cluster() as url:
        upgrade(url)
        yield url


def sqlite_url(directory: Path) -> str:
    """A migrated SQLite history file in ``directory``."""
    url = f"sqlite:///{directory / 'history.db'}"
    upgrade(url)
    return url
