"""Databases for migration tests, and what their schema looks like from outside."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.config import Config
from chatserver.records import schema
from tests.support.database import pg_database, pg_url


@contextlib.asynccontextmanager
async def databases(backend: str, make_config: Callable[..., Config],
                    tmp_path: Any) -> AsyncIterator[Callable[[], Any]]:
    """A factory of configs, each for a new empty database of ``backend``; all dropped after."""
    async with contextlib.AsyncExitStack() as stack:
        made = 0

        async def new() -> Config:
            nonlocal made
            made += 1
            if backend == "sqlite":
                return make_config(database_url=f"sqlite:///{tmp_path / f'db{made}.sqlite3'}")
            name = await stack.enter_async_context(pg_database("ek_migrate_"))
            return make_config(database_url=pg_url(name))

        yield new


def _differences(conn: sa.Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), schema.metadata))


async def differences_from_schema_py(engine: AsyncEngine) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match ``schema.py``."""
    async with engine.connect() as conn:
        return await conn.run_sync(_differences)


def _reflect(conn: sa.Connection) -> dict[str, Any]:
    inspector = sa.inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("autoincrement"),
                         c.get("default")) for c in inspector.get_columns(table)],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted((fk["name"] or "", fk["constrained_columns"], fk["referred_table"],
                           fk["referred_columns"], sorted(fk.get("options", {}).items()))
                          for fk in inspector.get_foreign_keys(table)),
            "indexes": sorted((ix["name"] or "", ix["column_names"], ix["unique"])
                              for ix in inspector.get_indexes(table)),
            "unique": sorted((u["name"] or "", u["column_names"])
                             for u in inspector.get_unique_constraints(table)),
        }
    return out


async def reflected(engine: AsyncEngine) -> dict[str, Any]:
    """Every table with its columns, keys, indexes and constraints, as the database reports."""
    async with engine.connect() as conn:
        return await conn.run_sync(_reflect)
