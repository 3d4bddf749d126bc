"""`chatserver user add` and `chatserver user reset` set a one-time password: the first sign-in
with it opens nothing but the page to choose the counsellor's own (docs/security.md, "Console
accounts"); once chosen, a reset by the administrator makes it one-time again."""

from __future__ import annotations

import time
from pathlib import Path

from chatserver.config import load_config
from chatserver.records.accounts import Users
from chatserver.records.db import open_engine
from chatserver.records.kdf import KDF_COSTS
from tests.ops.test_user_cli_manages_accounts import run
from tests.support.harness import totp_of

GIVEN = "vom-admin-vergeben-1"
OWN = "mein-eigenes-passwort"
RESET = "vom-admin-neu-vergeben"


async def test_add_and_reset_mark_the_administrators_password_one_time(tmp_path: Path) -> None:
    added = run(tmp_path, "add", "akeller", "--pseudonym", "Anna", stdin=GIVEN + "\n")
    assert added.returncode == 0, added.stderr
    config = load_config({}, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                         kdf_cost="min")
    engine = open_engine(config)
    try:
        users = Users(engine, *KDF_COSTS["min"])
        totp = totp_of(added.stdout.strip())
        session = await users.login("akeller", GIVEN, totp.now(), time.time())
        assert session.password_once
        await users.change_password(session, OWN)
        again = await users.login("akeller", OWN, totp.at(time.time() + 30), time.time())
        assert not again.password_once

        reset = run(tmp_path, "reset", "akeller", stdin=RESET + "\n")
        assert reset.returncode == 0, reset.stderr
        totp = totp_of(reset.stdout.strip())
        after = await users.login("akeller", RESET, totp.now(), time.time())
        assert after.password_once
        assert not await users.check_password("akeller", OWN)
    finally:
        await engine.dispose()
