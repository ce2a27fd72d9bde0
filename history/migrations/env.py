"""Alembic's entry point: migrate the database named by the config's sqlalchemy.url."""

from __future__ import annotations

from alembic import context

from history.database import make_engine
from history.models import Base

url = context.config.get_main_option("sqlalchemy.url")
if url is None:
    raise SystemExit("alembic: no sqlalchemy.url (use `klaxon db upgrade`)")
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
