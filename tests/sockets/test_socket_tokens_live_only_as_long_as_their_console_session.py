"""A counsellor socket token is good only while the console session it came from is.

The console hands out a token bound to its session: logout, an idle session (nothing from the
console page and no socket of it for ``SESSION_IDLE_S``) and the session's cap
(``SESSION_MAX_S`` after sign-in) end the token, and an open socket of it within a second; the
token's own lifetime ends at the session's cap at the latest. A token planted in the state
without a session opens nothing. An open socket keeps its session from going idle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import socketio
import sqlalchemy as sa

from chatserver.records.accounts import SESSION_IDLE_S, SESSION_MAX_S
from chatserver.records.schema import sessions
from chatserver.relay.state import Identity, secret_key
from chatserver.web.appkeys import ENGINE, RELAY, USERS
from tests.support.accounts import console_sign_in, console_socket_token
from tests.support.clients import CounsellorClient
from tests.support.harness import Harness, totp_of
from tests.support.waiting import eventually

PASSWORD = "ein-langes-passwort"


class Signed:
    """One console signed in over HTTP: its cookie jar, CSRF token and socket token."""

    def __init__(self, http: aiohttp.ClientSession, csrf: str, token: str) -> None:
        self.http, self.csrf, self.token = http, csrf, token


@pytest.fixture
async def console(harness: Harness) -> AsyncIterator[Signed]:
    uri = await harness.app[USERS].add("akeller", "counsellor", PASSWORD, "Anna")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await console_sign_in(http, harness.url, "akeller", PASSWORD, totp_of(uri).now())
        yield Signed(http, csrf, await console_socket_token(http, harness.url, csrf))


async def shift_session(h: Harness, **columns: float) -> None:
    """Move the (only) console session back in time."""
    async with h.app[ENGINE].begin() as conn:
        await conn.execute(sa.update(sessions).values(**columns))


async def last_seen(h: Harness) -> float:
    async with h.app[ENGINE].connect() as conn:
        return float((await conn.execute(sa.select(sessions.c.last_seen))).scalar_one())


async def connected(h: Harness, token: str) -> tuple[CounsellorClient, asyncio.Event]:
    client = CounsellorClient(h.url, token)
    closed = asyncio.Event()

    async def on_close(*_: object) -> None:
        closed.set()

    client.sio.on("disconnect", on_close, namespace="/counsellor")
    await client.connect()
    h.track(client)
    assert (await client.sync())["ok"]
    return client, closed


async def refused(h: Harness, token: str) -> bool:
    try:
        await CounsellorClient(h.url, token).connect()
    except socketio.exceptions.ConnectionError:
        return True
    return False


async def test_logout_ends_the_token_and_its_open_socket(
    harness: Harness, console: Signed
) -> None:
    _client, closed = await connected(harness, console.token)
    async with console.http.post(harness.url + "/console/logout", allow_redirects=False,
                                 data={"csrf": console.csrf}) as resp:
        assert resp.status == 303
    await asyncio.wait_for(closed.wait(), 1.0)
    assert await refused(harness, console.token)


async def test_an_idle_session_ends_its_token(harness: Harness, console: Signed) -> None:
    await shift_session(harness, last_seen=time.time() - SESSION_IDLE_S - 5)
    assert await refused(harness, console.token)


async def test_a_session_past_its_cap_ends_its_token_and_open_socket(
    harness: Harness, console: Signed
) -> None:
    _client, closed = await connected(harness, console.token)
    await shift_session(harness, created=time.time() - SESSION_MAX_S - 5)
    await asyncio.wait_for(closed.wait(), 1.0)
    assert await refused(harness, console.token)


async def test_a_token_lives_no_longer_than_its_session_may(
    harness: Harness, console: Signed
) -> None:
    """Issued two seconds before the session's cap, the token itself is gone soon after
    (not 12 hours later, the configured maximum)."""
    await shift_session(harness, created=time.time() - SESSION_MAX_S + 2.0)
    token = await console_socket_token(console.http, harness.url, console.csrf)
    state = harness.app[RELAY].state
    assert await state.get_token(secret_key(token)) is not None
    await eventually(lambda: state.get_token(secret_key(token)), until=lambda found: found is None,
                     timeout=4.0, what="the token to end with its session's cap")


async def test_an_open_socket_keeps_its_session_from_going_idle(
    harness: Harness, console: Signed
) -> None:
    client, closed = await connected(harness, console.token)
    before = time.time() - SESSION_IDLE_S + 120
    await shift_session(harness, last_seen=before)
    await eventually(lambda: last_seen(harness), until=lambda seen: seen > time.time() - 5,
                     timeout=2.0, what="the open socket to keep its session alive")
    assert client.connected and not closed.is_set()


async def test_a_session_gone_idle_is_not_revived_by_its_socket(
    harness: Harness, console: Signed
) -> None:
    _client, closed = await connected(harness, console.token)
    await shift_session(harness, last_seen=time.time() - SESSION_IDLE_S - 5)
    await asyncio.wait_for(closed.wait(), 1.0)
    assert await last_seen(harness) < time.time() - SESSION_IDLE_S


async def test_a_token_without_a_console_session_opens_nothing(harness: Harness) -> None:
    """One planted in the state (as by someone who can write to Redis) and one naming a
    session that does not exist."""
    state = harness.app[RELAY].state
    await harness.app[USERS].add("akeller", "counsellor", PASSWORD, "Anna")
    anna = await harness.app[USERS].find("akeller")
    assert anna is not None
    for n, session in enumerate(["", "f" * 64]):
        token = f"planted-token-{n}-" + "x" * 30
        await state.put_token(secret_key(token),
                              Identity(anna.id, "Anna", "counsellor", session), 600)
        assert await refused(harness, token)


async def test_a_token_of_another_accounts_session_opens_nothing(
    harness: Harness, console: Signed
) -> None:
    """A token naming a live session must name that session's account too."""
    anna = await harness.app[USERS].find("akeller")
    assert anna is not None
    bound = await harness.app[RELAY].state.get_token(secret_key(console.token))
    assert bound is not None and bound.id == anna.id
    token = "borrowed-session-" + "y" * 30
    await harness.app[RELAY].state.put_token(
        secret_key(token), Identity("someone-else", "Ben", "counsellor", bound.session), 600)
    assert await refused(harness, token)
