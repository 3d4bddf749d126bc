"""The SQL engine for records and drops (SQLite by default, PostgreSQL when configured) and its
schema migrations (Alembic; the revisions are in ``migrations/versions``).

SQLite runs in WAL mode with ``synchronous=FULL``, so a committed write survives a crash: the
console hears "saved" only after that.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from chatserver.config import Config


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

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Every migrating process holds this PostgreSQL lock until it commits. The runner before
# Alembic took the same one, so an old node restarting during a rolling upgrade waits too.
PG_MIGRATION_LOCK = 4711

# The runner before Alembic kept its version in this table; its migrations 1-3 are the
# revisions 0001-0003 (same tables, same columns, same indexes).
legacy_version = sa.Table(
    "schema_version", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
LEGACY_REVISIONS: dict[int, str | None] = {0: None, 1: "0001", 2: "0002", 3: "0003"}

T = TypeVar("T")


def alembic_config(*extra_version_locations: Path) -> AlembicConfig:
    """Alembic's configuration, made in code: no ``alembic.ini`` is read at run time."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    locations = [MIGRATIONS_DIR / "versions", *extra_version_locations]
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    return cfg


def head_revision() -> str:
    """The newest revision, which :func:`migrate` brings every database to."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no schema revisions found")
    return head


MIGRATION_WAIT_MS = 120_000


def run_locked(conn: sa.Connection, work: Callable[[sa.Connection], T]) -> T:
    """Run ``work`` as the only migrating process, in one transaction, and commit it.

    The lock is taken before Alembic runs, which also keeps Alembic's module-global context to
    one migration at a time when two engines in one process migrate (tests, ``user`` CLI).
    """
    sqlite = conn.dialect.name == "sqlite"
    try:
        if sqlite:
            # A table rebuild (Alembic's batch mode) drops the old table; with foreign keys on,
            # that would cascade into every table that refers to it. SQLite ignores this
            # pragma inside a transaction, so it comes first; the check below stands in.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            # Nodes started together take turns; the whole chain of revisions on a slow or busy
            # machine outlasts sqlite3's 5 s wait for the lock. Only this connection (never
            # handed out again) waits longer: everyday writes still fail fast when the file is
            # locked away, and answer "unavailable".
            conn.exec_driver_sql(f"PRAGMA busy_timeout={MIGRATION_WAIT_MS}")
            # Takes the write lock now, and makes the DDL transactional: Python's sqlite3
            # would otherwise run CREATE TABLE outside any transaction.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            # Two nodes starting together must not both migrate.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                         {"key": PG_MIGRATION_LOCK})
        result = work(conn)
        if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
            raise RuntimeError("a migration left rows whose foreign key points nowhere")
        conn.commit()
        return result
    finally:
        if sqlite:
            # Foreign keys are off on this connection: it is never handed out again.
            conn.invalidate()


def _adopt_legacy(conn: sa.Connection, cfg: AlembicConfig) -> None:
    """Stamp a database of the runner before Alembic with its revision; drop its table."""
    if not sa.inspect(conn).has_table(legacy_version.name):
        return
    # With Alembic's table present too, an old node re-created the legacy table during a
    # rolling upgrade (finding every table there, it changed nothing else): Alembic's stamp
    # stands.
    if MigrationContext.configure(conn).get_current_revision() is None:
        # No row: the legacy runner failed on its first run, before it made any table.
        version = conn.execute(sa.select(legacy_version.c.version)
                               .where(legacy_version.c.id == 1)).scalar() or 0
        if version not in LEGACY_REVISIONS:
            raise RuntimeError(f"schema_version {version} is newer than this release knows")
        revision = LEGACY_REVISIONS[version]
        if revision is not None:
            command.stamp(cfg, revision)
    legacy_version.drop(conn)


def _upgrade(conn: sa.Connection, cfg: AlembicConfig) -> str:
    cfg.attributes["connection"] = conn
    _adopt_legacy(conn, cfg)
    command.upgrade(cfg, "head")
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None:
        raise RuntimeError("the database has no schema revision after the upgrade")
    return revision


async def migrate(engine: AsyncEngine, config: AlembicConfig | None = None) -> str:
    """Bring the schema up to date (adopting a database of the runner before Alembic).

    Runs on every start, on every node; returns the revision. ``config`` defaults to
    :func:`alembic_config` (tests add a version location).
    """
    cfg = config or alembic_config()
    async with engine.connect() as conn:
        return await conn.run_sync(run_locked, partial(_upgrade, cfg=cfg))
