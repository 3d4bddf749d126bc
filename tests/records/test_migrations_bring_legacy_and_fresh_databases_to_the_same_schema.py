"""Alembic migrations: a database of the runner before Alembic (at version 1, 2 or 3, with data)
and a fresh database end at the same head, which matches ``schema.py``; on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import nacl.pwhash
import pytest
import sqlalchemy as sa
from alembic import command

from chatserver.config import Config
from chatserver.records.accounts import Users
from chatserver.records.codenames import CodenameHasher
from chatserver.records.db import alembic_config, head_revision, migrate, open_engine, run_locked
from chatserver.records.store import RecordStore
from chatserver.stats.counters import StatsStore
from tests.support import legacy_runner as legacy
from tests.support.schema_check import databases, differences_from_schema_py, reflected

CHEAP = (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)
NOW = 1_790_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
async def new_config(request: pytest.FixtureRequest, make_config: Callable[..., Config],
                     tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    async with databases(request.param, make_config, tmp_path) as new:
        yield new


async def _tables(engine: Any) -> set[str]:
    return set((await reflected(engine)).keys())


async def _fill_legacy(engine: Any, version: int) -> None:
    """A console user, a record with a note, and what the later versions hold."""
    async with engine.begin() as conn:
        await conn.execute(sa.insert(legacy.users).values(
            id="u1", name="anna", pseudonym="Anna", role="counsellor", password_hash="x",
            totp_secret="S" * 32, totp_last_step=0, disabled=False, failed=0, locked_until=0.0,
            certificate=None, created=NOW))
        await conn.execute(sa.insert(legacy.records).values(
            id="r1", created=NOW, retain_until=NOW + 1000, counsellor_id="u1",
            consent_version="v1", codename_key="k" * 64, sealed_key="S0VZ", body="Qk9EWQ=="))
        await conn.execute(sa.insert(legacy.record_notes).values(
            id="n1", record_id="r1", created=NOW, author_id="u1", body="Tk9URQ=="))
        # Her grant of the records key, without which today's code opens no record.
        await conn.execute(sa.insert(legacy.key_grants).values(
            user_id="u1", box_pk="UEtB", sealed_records_sk="R1JBTlQ=", granted_by="u1",
            granted_at=NOW))
        if version >= 2:
            await conn.execute(sa.insert(legacy.user_keys).values(
                user_id="u1", blob="QkxPQg==", updated=NOW))
        if version >= 3:
            await conn.execute(sa.insert(legacy.stats_daily).values(
                day="2026-10-25", metric="requested|exit|de", n=4))


async def _data_is_there(engine: Any, keys_blob: str, stats_rows: bool) -> None:
    """Today's code reads what was written before."""
    users = Users(engine, *CHEAP)
    assert [(u["name"], u["role"]) for u in await users.list_users()] == [("anna", "counsellor")]
    assert await users.keys_blob("u1") == keys_blob
    store = RecordStore(engine, CodenameHasher(b"s" * 16, *CHEAP), 100.0, 50.0)
    opened = await store.open("r1", "u1", NOW + 1)
    assert opened["body"] == "Qk9EWQ==" and opened["sealed_key"] == "S0VZ"
    assert [n["body"] for n in opened["notes"]] == ["Tk9URQ=="]
    days = await StatsStore(engine, ZoneInfo("Europe/Berlin")).daily(
        date(2026, 10, 25), date(2026, 10, 25))
    assert days == ({date(2026, 10, 25): {"requested|exit|de": 4}} if stats_rows else {})


async def _fill_what_the_old_release_lacked(engine: Any, version: int) -> None:
    """Today's code writes into the tables that the old release did not have."""
    if version < 2:
        await Users(engine, *CHEAP).set_keys_blob("u1", "QkxPQg==")
    if version < 3:
        await StatsStore(engine, ZoneInfo("Europe/Berlin")).add(
            {"2026102522": {"requested|exit|de": 4}})


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_a_legacy_database_keeps_its_data_and_ends_like_a_fresh_one(
        new_config: Callable[[], Any], version: int) -> None:
    old, fresh = open_engine(await new_config()), open_engine(await new_config())
    try:
        assert await legacy.legacy_migrate(old, version) == version
        assert "schema_version" in await _tables(old)
        await _fill_legacy(old, version)

        assert await migrate(old) == head_revision()
        assert await migrate(fresh) == head_revision()
        assert "schema_version" not in await _tables(old)
        assert await differences_from_schema_py(old) == []
        assert await reflected(old) == await reflected(fresh)
        await _data_is_there(old, "QkxPQg==" if version >= 2 else "", stats_rows=version >= 3)
        await _fill_what_the_old_release_lacked(old, version)
        await _data_is_there(old, "QkxPQg==", stats_rows=True)

        # An old node restarting during the rolling upgrade: its runner finds every table and
        # only brings back its version table, which the next start of a new node drops again.
        assert await legacy.legacy_migrate(old) == 3
        assert "schema_version" in await _tables(old)
        assert await migrate(old) == head_revision()
        assert await reflected(old) == await reflected(fresh)
        await _data_is_there(old, "QkxPQg==", stats_rows=True)
    finally:
        await old.dispose()
        await fresh.dispose()


async def test_a_fresh_database_goes_to_head_and_matches_schema_py(
        new_config: Callable[[], Any]) -> None:
    engine = open_engine(await new_config())
    try:
        assert await migrate(engine) == head_revision()
        shape = await reflected(engine)
        assert await differences_from_schema_py(engine) == []
        assert await migrate(engine) == head_revision()  # a second start changes nothing
        assert await reflected(engine) == shape

        # Development only: every revision can be taken back, and then made again.
        cfg = alembic_config()

        def downgrade(conn: sa.Connection) -> None:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")

        async with engine.connect() as conn:
            await conn.run_sync(run_locked, downgrade)
        assert await _tables(engine) == {"alembic_version"}
        assert await migrate(engine) == head_revision()
        assert await reflected(engine) == shape
    finally:
        await engine.dispose()


async def test_a_newer_legacy_version_than_known_is_refused_untouched(
        new_config: Callable[[], Any]) -> None:
    engine = open_engine(await new_config())
    try:
        await legacy.legacy_migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(sa.update(legacy.schema_version).values(version=4))
        before = await reflected(engine)
        with pytest.raises(RuntimeError, match="schema_version 4"):
            await migrate(engine)
        assert await reflected(engine) == before
    finally:
        await engine.dispose()


REBUILD = '''
from alembic import op
import sqlalchemy as sa

revision = "9001"
down_revision = {head!r}


def upgrade() -> None:
    with op.batch_alter_table("console_users", recreate="always") as batch:
        batch.add_column(sa.Column("nickname", sa.String(64), nullable=True))
    {extra}
'''


async def _user_with_session_and_keys(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(legacy.users).values(
            id="u1", name="anna", pseudonym="Anna", role="counsellor", password_hash="x",
            totp_secret="S" * 32, totp_last_step=0, disabled=False, failed=0, locked_until=0.0,
            certificate=None, created=NOW))
        await conn.execute(sa.insert(legacy.sessions).values(
            key="s1", user_id="u1", csrf="c", created=NOW, last_seen=NOW))
        await conn.execute(sa.insert(legacy.user_keys).values(
            user_id="u1", blob="QkxPQg==", updated=NOW))


async def _count(engine: Any, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(
            sa.select(sa.func.count()).select_from(sa.table(table)))).scalar_one())


async def test_a_sqlite_table_rebuild_keeps_the_rows_that_refer_to_it(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    engine = open_engine(make_config())
    versions = tmp_path / "versions"
    versions.mkdir()
    try:
        await migrate(engine)
        await _user_with_session_and_keys(engine)
        # The copy-and-move of batch mode drops console_users; sessions and keys refer to it
        # with ON DELETE CASCADE.
        (versions / "9001_rebuild.py").write_text(REBUILD.format(head=head_revision(),
                                                                 extra="pass"))
        assert await migrate(engine, alembic_config(versions)) == "9001"
        assert await _count(engine, "console_sessions") == 1
        assert await _count(engine, "console_user_keys") == 1
        async with engine.connect() as conn:  # the pool hands out connections as before
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await engine.dispose()


async def test_a_sqlite_migration_that_breaks_a_foreign_key_is_rolled_back(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    engine = open_engine(make_config())
    versions = tmp_path / "versions"
    versions.mkdir()
    try:
        await migrate(engine)
        await _user_with_session_and_keys(engine)
        before = await reflected(engine)
        (versions / "9001_rebuild.py").write_text(REBUILD.format(
            head=head_revision(), extra='op.execute("DELETE FROM console_users")'))
        with pytest.raises(RuntimeError, match="foreign key"):
            await migrate(engine, alembic_config(versions))
        assert await reflected(engine) == before
        assert await _count(engine, "console_users") == 1
        assert await migrate(engine) == head_revision()
    finally:
        await engine.dispose()
