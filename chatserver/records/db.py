"""The SQL engine for records and drops: SQLite by default, PostgreSQL when configured.

SQLite runs in WAL mode with ``synchronous=FULL``, so a committed write survives a crash: the
console hears "saved" only after that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from chatserver.config import Config
from chatserver.records import schema


def engine_url(database_url: str) -> str:
    """The SQLAlchemy URL (with async driver) for a ``CHATSERVER_DATABASE_URL``."""
    if database_url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + database_url.removeprefix("sqlite:///")
    if database_url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + database_url.removeprefix("postgresql://")
    raise ValueError("unsupported database URL")


def open_engine(config: Config) -> AsyncEngine:
    """An engine for the configured database; the SQLite folder is created if missing."""
    path = config.sqlite_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(engine_url(config.database_url), pool_pre_ping=True)
    if path is not None:
        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    return engine


# -- schema migrations ------------------------------------------------------------------

_versions = sa.MetaData()
schema_version = sa.Table(
    "schema_version", _versions,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


def _baseline(conn: sa.Connection) -> None:
    schema.metadata.create_all(conn, tables=[
        schema.records, schema.record_notes, schema.record_audit, schema.drops,
        schema.team_keys, schema.key_grants, schema.settings, schema.users, schema.sessions,
        schema.canned])


def _console_user_keys(conn: sa.Connection) -> None:
    schema.user_keys.create(conn, checkfirst=True)


def _statistics(conn: sa.Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.stats_daily, schema.stats_weekly])


# Append only; a deployed migration is never edited. Each runs in the upgrade's transaction.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [
    _baseline, _console_user_keys, _statistics,
]


def _migrate(conn: sa.Connection) -> int:
    if conn.dialect.name == "postgresql":
        # Two nodes starting together must not both migrate.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(4711)"))
    _versions.create_all(conn)
    row = conn.execute(sa.select(schema_version.c.version).where(schema_version.c.id == 1)).first()
    current = int(row[0]) if row else 0
    if row is None:
        conn.execute(sa.insert(schema_version).values(id=1, version=0))
    for number, migration in enumerate(MIGRATIONS[current:], start=current + 1):
        migration(conn)
        conn.execute(sa.update(schema_version).where(schema_version.c.id == 1)
                     .values(version=number))
    return len(MIGRATIONS)


async def migrate(engine: AsyncEngine) -> int:
    """Bring the database schema up to date; returns the schema version."""
    async with engine.begin() as conn:
        return await conn.run_sync(_migrate)
