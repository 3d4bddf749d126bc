"""Revision 0006 on SQLite and PostgreSQL: a drop left before it (found by a codename the server
made, perhaps with an unsigned answer) stays readable for counsellors until it expires, but
nobody can answer it and no lookup value finds it; going back to 0003 keeps it and removes only
the drops the old release could not find."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
import sqlalchemy as sa
from alembic import command

from chatserver.config import Config
from chatserver.errors import DomainError
from chatserver.records.accounts import Users
from chatserver.records.codenames import CodenameHasher
from chatserver.records.db import alembic_config, head_revision, migrate, open_engine, run_locked
from chatserver.records.schema import drops, key_grants
from chatserver.records.schema import users as users_table
from chatserver.records.store import RecordStore
from tests.support.schema_check import databases, differences_from_schema_py

CHEAP = (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)
NOW = 1_790_000_000.0
LOOKUP = "TE9PS1VQ" * 5 + "TE9="


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def new_config(request: pytest.FixtureRequest, make_config: Callable[..., Config],
                     tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    async with databases(request.param, make_config, tmp_path) as new:
        yield new


async def _to(engine: Any, revision: str, down: bool = False) -> None:
    cfg = alembic_config()

    def work(conn: sa.Connection) -> None:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)

    async with engine.connect() as conn:
        await conn.run_sync(run_locked, work)


async def test_an_old_drop_is_read_but_never_answered_or_found_by_a_lookup(
        new_config: Callable[[], Any]) -> None:
    engine = open_engine(await new_config())
    try:
        await _to(engine, "0003")
        async with engine.begin() as conn:
            for drop_id, answer in (("old-unanswered", None), ("old-answered", "U0VBTEVE")):
                await conn.execute(sa.insert(drops).values(
                    id=drop_id, created=NOW, expires=NOW + 100,
                    codename_key=drop_id.ljust(64, "k"),
                    sealed_key="S0VZ", body="RFJPUA==", reply_pk="UEs=", answer=answer,
                    answered_at=None if answer is None else NOW))
        assert await migrate(engine) == head_revision()
        assert await differences_from_schema_py(engine) == []

        users = Users(engine, *CHEAP)
        await users.add("akeller", "counsellor", "ein-langes-passwort", "Anna")
        async with engine.begin() as conn:
            anna = (await conn.execute(sa.select(users_table.c.id))).scalar_one()
            await conn.execute(sa.insert(key_grants).values(
                user_id=anna, box_pk="UEtB", sealed_records_sk="R1JBTlQ=", granted_by=anna,
                granted_at=NOW))
        store = RecordStore(engine, CodenameHasher(b"s" * 16, *CHEAP), 100.0, 50.0)
        assert await store.has_grant(anna)

        listed = {d["drop_id"]: d for d in await store.list_drops()}
        assert listed["old-unanswered"]["legacy"] and not listed["old-unanswered"]["answered"]
        assert listed["old-answered"]["legacy"] and listed["old-answered"]["answered"]
        opened = await store.open_drop("old-unanswered")
        assert opened["body"] == "RFJPUA==" and opened["lookup"] == ""
        # Its old answer is no signed one: the widget would refuse it.
        assert (await store.open_drop("old-answered"))["answer"] == {
            "sealed": "U0VBTEVE", "sig": "", "certificate": None}
        with pytest.raises(DomainError) as refused:
            await store.answer_drop("old-unanswered", anna,
                                    {"sealed": "QU5UV09SVA==", "certificate": {}, "sig": "x"},
                                    NOW + 1)
        assert refused.value.code == "bad_state"
        assert await store.read_drop(LOOKUP) is None

        # A new drop beside them; back to 0003 only the old ones stay, readable as before.
        await store.create_drop(LOOKUP, "S0VZ", "TkVV", "UEs=", NOW)
        assert (await store.read_drop(LOOKUP)) == {
            "answered": False, "answer": None, "expires": NOW + 50.0,
            "rounds": [{"round": 1, "answered": False, "answer": None}]}
        await _to(engine, "0003", down=True)
        async with engine.connect() as conn:
            left = sorted(r[0] for r in await conn.execute(sa.select(sa.text("id"))
                                                           .select_from(sa.text("drops"))))
        assert left == ["old-answered", "old-unanswered"]
        assert await migrate(engine) == head_revision()
        assert await store.purge(NOW + 101) == 2  # and they expire as ever
    finally:
        await engine.dispose()
