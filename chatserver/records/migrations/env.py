"""Alembic's environment: how the revisions reach the database.

At run time :func:`chatserver.records.db.migrate` hands over its own locked connection. The
``alembic`` command (configured in ``pyproject.toml``, for writing revisions) opens the
database of ``CHATSERVER_DATABASE_URL`` instead, under the same lock; with ``--sql`` it
prints the SQL without touching any database.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context

from chatserver.config import load_config
from chatserver.records import db, schema


def _run(conn: sa.Connection) -> None:
    # Batch mode renders ALTERs as SQLite's copy-and-move; PostgreSQL still alters in place.
    context.configure(connection=conn, target_metadata=schema.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_config() -> None:
    engine = db.open_engine(load_config())
    try:
        async with engine.connect() as conn:
            await conn.run_sync(db.run_locked, _run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=db.engine_url(load_config().database_url),
                      target_metadata=schema.metadata, render_as_batch=True,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (shared := context.config.attributes.get("connection")) is not None:
    _run(shared)
else:
    asyncio.run(_run_from_config())
