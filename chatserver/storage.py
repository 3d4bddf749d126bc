"""The SQL engine for records and drops: SQLite by default, PostgreSQL when configured.

SQLite runs in WAL mode with ``synchronous=FULL``, so a committed write survives a crash: the
console hears "saved" only after that.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
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
