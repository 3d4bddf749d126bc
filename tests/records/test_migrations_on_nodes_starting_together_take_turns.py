"""Nodes that start together migrate one after the other: one does the work, the others find
it done. On PostgreSQL through the advisory lock (which the runner before Alembic took too);
on SQLite through the write lock (the server and ``chatserver user`` starting at once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from chatserver.config import Config
from chatserver.records.db import head_revision, migrate, open_engine
from tests.support import legacy_runner as legacy
from tests.support.schema_check import databases, differences_from_schema_py, reflected

NODES = 4


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_nodes_starting_together_on_an_empty_database_all_come_up_at_head(
        backend: str, make_config: Callable[..., Config], tmp_path: Path) -> None:
    async with databases(backend, make_config, tmp_path) as new:
        config = await new()
        # One engine per node: each has its own connections, as separate processes would.
        engines = [open_engine(config) for _ in range(NODES)]
        try:
            revisions = await asyncio.gather(*(migrate(e) for e in engines))
            assert revisions == [head_revision()] * NODES
            async with engines[0].connect() as conn:
                assert (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                        ).scalars().all() == [head_revision()]
            assert await differences_from_schema_py(engines[0]) == []
        finally:
            for engine in engines:
                await engine.dispose()


async def test_new_and_old_nodes_starting_together_on_a_legacy_database_keep_its_data(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    async with databases("postgresql", make_config, tmp_path) as new:
        config = await new()
        engines = [open_engine(config) for _ in range(NODES)]
        try:
            await legacy.legacy_migrate(engines[0], 2)
            async with engines[0].begin() as conn:
                await conn.execute(sa.insert(legacy.team_keys).values(
                    name="records", public_key="UEs=", created=1.0))
            # A rolling upgrade: three new nodes and one old node (restarting) at once.
            await asyncio.gather(*(migrate(e) for e in engines[1:]),
                                 legacy.legacy_migrate(engines[0]))
            # Whichever came last, the next start of a new node leaves the head schema.
            assert await migrate(engines[1]) == head_revision()
            assert "schema_version" not in await reflected(engines[1])
            assert await differences_from_schema_py(engines[1]) == []
            async with engines[1].connect() as conn:
                assert (await conn.execute(sa.select(legacy.team_keys.c.public_key))
                        ).scalars().all() == ["UEs="]
        finally:
            for engine in engines:
                await engine.dispose()
