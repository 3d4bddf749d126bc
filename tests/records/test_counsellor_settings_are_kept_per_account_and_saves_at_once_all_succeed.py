"""Each account's notification settings (:meth:`Users.settings`, :meth:`Users.set_settings`) on
SQLite and PostgreSQL: all off for an account that never chose, one account's choice never
another's, and saves of one account at the same moment (its first ones, which make its row)
all succeed, the last one kept whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import nacl.pwhash
import pytest

from chatserver.config import Config
from chatserver.records.accounts import CounsellorSettings, Users
from chatserver.records.db import migrate, open_engine
from tests.support.database import pg_database, pg_url

CHEAP = (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def config(request: pytest.FixtureRequest,
                 make_config: Callable[..., Config]) -> AsyncIterator[Config]:
    if request.param == "sqlite":
        yield make_config()
        return
    async with pg_database("ek_settings_") as name:
        yield make_config(database_url=pg_url(name))


async def test_settings_per_account_and_saves_at_once(config: Config) -> None:
    engine = open_engine(config)
    try:
        await migrate(engine)
        users = Users(engine, *CHEAP)
        await users.add("akeller", "counsellor", "ein-langes-passwort", "Anna")
        await users.add("bkoch", "counsellor", "ein-langes-passwort", "Ben")
        anna = (await users.find("akeller")).id  # type: ignore[union-attr]
        ben = (await users.find("bkoch")).id  # type: ignore[union-attr]
        assert await users.settings(anna) == CounsellorSettings()

        # Many first saves at once: none fails on the row another one made.
        choices = [CounsellorSettings(request_sound=i % 2 == 0, message_notice=i % 3 == 0)
                   for i in range(12)]
        await asyncio.gather(*(users.set_settings(anna, c) for c in choices))
        assert await users.settings(anna) in choices
        assert await users.settings(ben) == CounsellorSettings()

        bens = CounsellorSettings(message_sound=True)
        await users.set_settings(ben, bens)
        mine = CounsellorSettings(request_notice=True, message_sound=True)
        await users.set_settings(anna, mine)
        assert await users.settings(anna) == mine
        assert await users.settings(ben) == bens
    finally:
        await engine.dispose()
