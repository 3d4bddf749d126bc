"""Revision 0005 (keys bound to identities) on SQLite and PostgreSQL: a records key and grants
made before it stay, without a certificate or box-key signature, which the consoles then refuse
to seal to until the admin certifies the key and each console registers again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from chatserver.config import Config
from chatserver.records.db import alembic_config, head_revision, migrate, open_engine, run_locked
from chatserver.records.store import Keyring
from tests.support.schema_check import databases, differences_from_schema_py

NOW = 1_790_000_000.0
# The revision just before 0005, whatever the chain holds.
BEFORE = str(ScriptDirectory.from_config(alembic_config()).get_revision("0005").down_revision)


@pytest.fixture(params=["sqlite", "postgresql"])
async def new_config(request: pytest.FixtureRequest, make_config: Callable[..., Config],
                     tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    async with databases(request.param, make_config, tmp_path) as new:
        yield new


async def test_keys_made_before_the_revision_stay_and_lack_only_their_proofs(
        new_config: Callable[[], Any]) -> None:
    engine = open_engine(await new_config())
    try:
        cfg = alembic_config()

        def upgrade_to_before(conn: sa.Connection) -> None:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, BEFORE)

        async with engine.connect() as conn:
            await conn.run_sync(run_locked, upgrade_to_before)
        # The tables as they were before the revision: no certificate, no signature.
        team_keys = sa.table("team_keys", sa.column("name"), sa.column("public_key"),
                             sa.column("created"))
        key_grants = sa.table("key_grants", sa.column("user_id"), sa.column("box_pk"),
                              sa.column("sealed_records_sk"), sa.column("granted_by"),
                              sa.column("granted_at"))
        users = sa.table("console_users", *(sa.column(c) for c in (
            "id", "name", "pseudonym", "role", "password_hash", "totp_secret", "totp_last_step",
            "disabled", "failed", "locked_until", "certificate", "created")))
        async with engine.begin() as conn:
            for uid, name in (("u1", "anna"), ("u2", "ben")):
                await conn.execute(sa.insert(users).values(
                    id=uid, name=name, pseudonym=name.title(), role="counsellor",
                    password_hash="x", totp_secret="S" * 32, totp_last_step=0, disabled=False,
                    failed=0, locked_until=0.0, certificate=None, created=NOW))
            await conn.execute(sa.insert(team_keys).values(name="records", public_key="UlBL",
                                                           created=NOW))
            await conn.execute(sa.insert(key_grants).values(
                user_id="u1", box_pk="QUJD", sealed_records_sk="R1JBTlQ=", granted_by="u1",
                granted_at=NOW))
            await conn.execute(sa.insert(key_grants).values(user_id="u2", box_pk="REVG"))

        assert await migrate(engine) == head_revision() != BEFORE
        assert await differences_from_schema_py(engine) == []
        keyring = Keyring(engine)
        assert await keyring.records_key() == ("UlBL", None)
        assert await keyring.holders() == ["u1"]
        status = await keyring.status("u1")
        assert status["me"] == {"box_pk": "QUJD", "sealed": "R1JBTlQ="}
        assert status["records_cert"] is None
        assert status["pending"] == [{"user_id": "u2", "pseudonym": "Ben", "box_pk": "REVG",
                                      "box_sig": "", "certificate": None}]
    finally:
        await engine.dispose()
