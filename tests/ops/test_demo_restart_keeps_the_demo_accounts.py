"""A second start in demo mode on the same directory (a second ``make run`` on the same
``var/``) keeps the demo accounts as they were: the same password, TOTP secret and stored
key blob, so the console still unwraps its keys; the passwords sit in a file only its owner
can read."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestServer

from chatserver.admin import demo
from chatserver.config import Config
from chatserver.main import create_app
from chatserver.records.accounts import LoginRefused
from chatserver.web.appkeys import USERS
from tests.support.harness import totp_of

CREDENTIALS = re.compile(r"DEMO (counsellor|supervisor \(statistics\)): (\S+) / password (\S+)"
                         r"\n\s+TOTP: (\S+)")
BLOB = "d3JhcHBlZC1rZXlzLW9mLXRoZS1kZW1vLWNvdW5zZWxsb3I="


async def start(config: Config, capsys: pytest.CaptureFixture[str]) -> tuple[
        TestServer, dict[str, tuple[str, str]]]:
    """Start the app; returns the server and what it printed: name -> (password, TOTP URI)."""
    server = TestServer(create_app(config))
    await server.start_server()
    printed = {m.group(2): (m.group(3), m.group(4))
               for m in CREDENTIALS.finditer(capsys.readouterr().out)}
    return server, printed


async def test_a_second_start_keeps_password_totp_and_keys(
    make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str],
) -> None:
    config = demo.prepare(make_config(demo=True))
    server, first = await start(config, capsys)
    assert set(first) == {"demo", "demo-leitung"}
    password, uri = first["demo"]
    users = server.app[USERS]
    session = await users.login("demo", password, totp_of(uri).now(), time.time())
    await users.set_keys_blob(session.user.id, BLOB)
    await server.close()

    server, second = await start(config, capsys)
    assert second == first
    users = server.app[USERS]
    # The next code (a login accepts one step ahead; the last code cannot be used twice).
    again = await users.login("demo", password, totp_of(uri).at(time.time() + 30), time.time())
    assert again.user.id == session.user.id
    assert await users.keys_blob(again.user.id) == BLOB
    # The session of the first start outlives the restart too: a reload stays signed in.
    assert await users.session(session.key, time.time()) is not None
    await server.close()

    kept = demo.demo_dir(config) / demo.PASSWORDS_FILE
    assert kept.stat().st_mode & 0o077 == 0
    assert json.loads(kept.read_text())["demo"] == password


async def test_an_account_from_before_kept_passwords_is_reset_once(
    make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str],
) -> None:
    config = demo.prepare(make_config(demo=True))
    server, _ = await start(config, capsys)
    # As a var/ from before: the account has a password nobody kept, and no file.
    await server.app[USERS].reset("demo", "ein-passwort-das-keiner-kennt")
    await server.close()
    (demo.demo_dir(config) / demo.PASSWORDS_FILE).unlink()

    server, second = await start(config, capsys)
    await server.close()
    server, third = await start(config, capsys)
    password, uri = third["demo"]
    assert second["demo"] == third["demo"]
    users = server.app[USERS]
    with pytest.raises(LoginRefused):
        await users.login("demo", "ein-passwort-das-keiner-kennt", totp_of(uri).now(), time.time())
    assert (await users.login("demo", password, totp_of(uri).at(time.time() + 30),
                              time.time())).user.name == "demo"
    await server.close()
