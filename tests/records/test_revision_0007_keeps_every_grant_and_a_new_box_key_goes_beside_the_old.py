"""Revision 0007 (key custody) on SQLite and PostgreSQL: a grant and the console's password
wrap made before it stay; afterwards a second box key of the same counsellor goes beside the
first without voiding its grant, and key wraps are added but never replaced. Taken back, the
revision keeps the granted box key of each counsellor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
import sqlalchemy as sa
from alembic import command

from chatserver.config import Config
from chatserver.records.accounts import KeyWrapRefused, Users
from chatserver.records.db import alembic_config, head_revision, migrate, open_engine, run_locked
from chatserver.records.store import Keyring
from tests.support.schema_check import databases, differences_from_schema_py

CHEAP = (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)
NOW = 1_790_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
async def new_config(request: pytest.FixtureRequest, make_config: Callable[..., Config],
                     tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    async with databases(request.param, make_config, tmp_path) as new:
        yield new


async def _to(engine: Any, revision: str, down: bool = False) -> None:
    cfg = alembic_config()

    def move(conn: sa.Connection) -> None:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)

    async with engine.connect() as conn:
        await conn.run_sync(run_locked, move)


async def test_grants_stay_and_a_second_box_key_voids_none(
        new_config: Callable[[], Any]) -> None:
    engine = open_engine(await new_config())
    try:
        await _to(engine, "0006")
        users = sa.table("console_users", *(sa.column(c) for c in (
            "id", "name", "pseudonym", "role", "password_hash", "totp_secret", "totp_last_step",
            "disabled", "failed", "locked_until", "certificate", "created")))
        grants = sa.table("key_grants", sa.column("user_id"), sa.column("box_pk"),
                          sa.column("sealed_records_sk"), sa.column("granted_by"),
                          sa.column("granted_at"))
        old_wraps = sa.table("console_user_keys", sa.column("user_id"), sa.column("blob"),
                             sa.column("updated"))
        async with engine.begin() as conn:
            await conn.execute(sa.insert(users).values(
                id="u1", name="anna", pseudonym="Anna", role="counsellor", password_hash="x",
                totp_secret="S" * 32, totp_last_step=0, disabled=False, failed=0,
                locked_until=0.0, certificate=None, created=NOW))
            await conn.execute(sa.insert(grants).values(
                user_id="u1", box_pk="QUJD", sealed_records_sk="R1JBTlQ=", granted_by="u1",
                granted_at=NOW))
            await conn.execute(sa.insert(old_wraps).values(user_id="u1", blob="QkxPQg==",
                                                           updated=NOW))

        assert await migrate(engine) == head_revision()
        assert await differences_from_schema_py(engine) == []
        keyring, accounts = Keyring(engine), Users(engine, *CHEAP)
        assert await keyring.holders() == ["u1"]
        assert await accounts.keys_blob("u1") == "QkxPQg=="
        # Another browser's box key: beside the first, waiting, the first grant untouched.
        await keyring.register("u1", "WFla", "", None, NOW + 1)
        assert (await keyring.status("u1", "QUJD"))["me"] == {"box_pk": "QUJD",
                                                              "sealed": "R1JBTlQ="}
        assert (await keyring.status("u1", "WFla"))["me"] == {"box_pk": "WFla", "sealed": ""}
        assert [p["box_pk"] for p in (await keyring.status("u1"))["pending"]] == ["WFla"]
        await keyring.grant("u1", "u1", "U0VDT05E", NOW + 2, box_pk="WFla")
        assert (await keyring.status("u1", "QUJD"))["me"]["sealed"] == "R1JBTlQ="
        assert (await keyring.status("u1", "WFla"))["me"]["sealed"] == "U0VDT05E"
        # Wraps are added, never replaced.
        await accounts.add_key_wrap("u1", "a" * 32, "W" * 40)
        with pytest.raises(KeyWrapRefused):
            await accounts.add_key_wrap("u1", "a" * 32, "X" * 40)
        assert await accounts.key_wraps("u1") == [{"id": "a" * 32, "blob": "W" * 40}]

        # Back to 0006: one box key per counsellor, a granted one.
        await _to(engine, "0006", down=True)
        async with engine.connect() as conn:
            kept = list(await conn.execute(sa.select(grants.c.user_id, grants.c.box_pk)))
        assert len(kept) == 1 and kept[0][0] == "u1" and kept[0][1] in ("QUJD", "WFla")
    finally:
        await engine.dispose()
