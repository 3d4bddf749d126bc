"""`chatserver user disable` and `reset` end an open console at once.

A counsellor signs in through the console, opens the counsellor socket with the token the
console hands out, and holds a grant of the records key. An administrator runs the command in
another process against the same database, and the same Redis when the nodes use one (the
embedded state lives inside the server process, where the command cannot reach it). Within a
second of the command's return the open socket is closed, the account is off duty and its
visitor back in the queue, the old token opens no new socket, and the account's grant is gone;
a colleague's console is untouched.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import nacl.bindings as sodium
import pytest
import socketio
from aiohttp.test_utils import TestServer

from chatserver import crypto
from chatserver.config import Config
from chatserver.main import create_app
from chatserver.relay.state import secret_key
from chatserver.web.appkeys import RECORDS, RELAY, USERS
from tests.support.accounts import console_sign_in, console_socket_token
from tests.support.clients import CounsellorClient
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of
from tests.support.paths import ROOT

PASSWORD = "ein-langes-passwort"
# The promise: an open socket of the account is closed within this long after the command.
CLOSED_WITHIN_S = 1.0


class Console:
    """A counsellor signed in through the console, with its socket open."""

    def __init__(self, url: str, token: str) -> None:
        self.token = token
        self.client = CounsellorClient(url, token)
        self.closed = asyncio.Event()

        async def on_close(*_: Any) -> None:
            self.closed.set()

        self.client.sio.on("disconnect", on_close, namespace="/counsellor")


@pytest.fixture
async def server(backend: str, make_config: Callable[..., Config]) -> AsyncIterator[Harness]:
    server = TestServer(create_app(make_config(redis_url=backend)))
    await server.start_server()
    h = Harness(server.app, str(server.make_url("/")))
    yield h
    await h.close()
    await server.close()


def cli(config: Config, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``chatserver user ...`` in its own process, configured like the server's nodes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATSERVER_")}
    env.update(CHATSERVER_DATABASE_URL=config.database_url, CHATSERVER_KDF_COST="min")
    if config.redis_url:
        env["CHATSERVER_REDIS_URL"] = config.redis_url
    return subprocess.run([sys.executable, "-m", "chatserver", "user", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


async def open_console(h: Harness, stack: AsyncExitStack, name: str, uri: str) -> Console:
    http = await stack.enter_async_context(
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
    csrf = await console_sign_in(http, h.url, name, PASSWORD, totp_of(uri).now())
    console = Console(h.url, await console_socket_token(http, h.url, csrf))
    await console.client.connect()
    h.track(console.client)
    assert (await console.client.sync())["ok"]
    return console


def box_keypair() -> tuple[bytes, bytes]:
    sk = os.urandom(32)
    return sk, sodium.crypto_scalarmult_base(sk)


async def both_hold_the_records_key(anna: Console, ben: Console) -> None:
    _anna_sk, anna_pk = box_keypair()
    _ben_sk, ben_pk = box_keypair()
    records_sk, records_pk = box_keypair()
    b64 = crypto.b64encode
    pki = Pki()
    assert (await anna.client.call("keyring_register",
                                   pki.identity("Anna").box_registration(anna_pk)))["ok"]
    assert (await anna.client.call("keyring_init", {
        "records_pk": b64(records_pk), "sealed": b64(crypto.seal(anna_pk, records_sk))}))["ok"]
    assert (await ben.client.call("keyring_register",
                                  pki.identity("Ben").box_registration(ben_pk)))["ok"]
    ben_id = (await ben.client.sync())["me"]["id"]
    assert (await anna.client.call("keyring_grant", {
        "user_id": ben_id, "sealed": b64(crypto.seal(ben_pk, records_sk))}))["ok"]


@pytest.mark.parametrize("command", ["disable", "reset"])
async def test_the_command_closes_the_open_socket_and_voids_token_and_grant(
    server: Harness, command: str
) -> None:
    h, config = server, server.app[RELAY].config
    users = h.app[USERS]
    anna_uri = await users.add("akeller", "counsellor", PASSWORD, "Anna")
    ben_uri = await users.add("bschmidt", "counsellor", PASSWORD, "Ben")
    async with AsyncExitStack() as stack:
        anna = await open_console(h, stack, "akeller", anna_uri)
        ben = await open_console(h, stack, "bschmidt", ben_uri)
        await both_hold_the_records_key(anna, ben)
        anna_id = (await anna.client.sync())["me"]["id"]
        ben_id = (await ben.client.sync())["me"]["id"]
        keyring = h.app[RECORDS].keyring
        assert await keyring.holders() == sorted([anna_id, ben_id])
        # Anna is on duty and chatting with a visitor.
        assert (await anna.client.duty(True))["ok"]
        visitor = await h.visitor()
        assert (await visitor.request())["ok"]
        assert (await anna.client.accept(visitor.chat_id))["ok"]

        done = await asyncio.to_thread(
            cli, config, command, "akeller",
            stdin="ein-neues-langes-passwort\n" if command == "reset" else "")
        assert done.returncode == 0, done.stderr
        await asyncio.wait_for(anna.closed.wait(), CLOSED_WITHIN_S)
        told = await anna.client.expect("failed")
        assert told["error"] == "forbidden" and "sign in again" in told["message"]
        # Signed out for good: the visitor goes back to the queue at once, not after the grace
        # meant for a console that reloads.
        assert (await visitor.expect("requeued", timeout=CLOSED_WITHIN_S))["position"] == 1

        again = CounsellorClient(h.url, anna.token)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await again.connect()
        assert await keyring.holders() == [ben_id]
        assert (await ben.client.call("keyring", {}))["pending"] == []
        # The colleague's console goes on.
        assert ben.client.connected and not ben.closed.is_set()
        assert (await ben.client.sync())["ok"]

    stored = await h.app[RELAY].state.get_token(secret_key(anna.token))
    if config.redis_url:
        # The command reached the nodes' Redis and revoked the tokens there too.
        assert stored is None
        assert "not revoked" not in done.stderr
    else:
        # Out of the command's reach: still stored, refused all the same (the database says
        # its session is gone), and the command says so.
        assert stored is not None and stored.id == anna_id
        assert "not revoked in the state" in done.stderr
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        with pytest.raises(AssertionError):  # the old password signs nobody in
            await console_sign_in(http, h.url, "akeller", PASSWORD, totp_of(anna_uri).now())


async def test_an_unreachable_redis_leaves_the_tokens_to_the_nodes_check(
    harness: Harness, make_config: Callable[..., Config]
) -> None:
    """The command still disables the account (and says what it could not do)."""
    await harness.app[USERS].add("akeller", "counsellor", PASSWORD, "Anna")
    config = harness.app[RELAY].config
    dead = make_config(redis_url="redis://127.0.0.1:9/0", database_url=config.database_url)
    done = await asyncio.to_thread(cli, dead, "disable", "akeller")
    assert done.returncode == 0, done.stderr
    assert "Redis did not answer" in done.stderr
    assert (await harness.app[USERS].list_users())[0]["disabled"] is True
