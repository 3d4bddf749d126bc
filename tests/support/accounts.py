"""Console accounts for tests: an account, a signed-in session and a socket token bound to
it, and signing in through the console as a browser does.

A socket token is good only while the console session it was issued from is (see
``chatserver/sockets/counsellor.py``), so a test counsellor needs an account and a session in
the server's database, as the console would make them after a full login.
"""

from __future__ import annotations

import re
import time

import aiohttp
import pyotp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.records.accounts import Users
from chatserver.records.schema import users
from chatserver.relay.state import Identity, State
from chatserver.relay.tokens import Tokens


async def ensure_account(engine: AsyncEngine, name: str, pseudonym: str, role: str) -> str:
    """The id of the account ``name``; made if missing, with its name as its id (so tests can
    address colleagues by name) and no usable password (tests sign it in with
    :meth:`Users.open_session`)."""
    async with engine.begin() as conn:
        row = (await conn.execute(sa.select(users.c.id).where(users.c.name == name))).first()
        if row is not None:
            return str(row[0])
        await conn.execute(sa.insert(users).values(
            id=name, name=name, pseudonym=pseudonym, role=role, password_hash="!",
            totp_secret=pyotp.random_base32(), totp_last_step=0, disabled=False, failed=0,
            locked_until=0.0, created=time.time()))
        return name


async def bound_token(accounts: Users, state: State, name: str, pseudonym: str,
                      role: str = "counsellor", ttl: float = 3600) -> str:
    """Sign ``name`` in (making the account if need be) and issue a socket token for that
    session, the way the console's ``/console/api/socket-token`` does."""
    user_id = await ensure_account(accounts.engine, name, pseudonym, role)
    session = await accounts.open_session(name, time.time())
    return await Tokens(state).issue(Identity(user_id, pseudonym, role, session.ref), ttl)


async def console_sign_in(http: aiohttp.ClientSession, base: str, name: str, password: str,
                          code: str) -> str:
    """Sign in through the console's login form as a browser does; returns the page's CSRF
    token (``http`` needs a cookie jar that takes cookies from an IP address)."""
    async with http.get(base + "/console/login") as resp:
        form_csrf = _csrf(await resp.text())
    async with http.post(base + "/console/login", allow_redirects=False, data={
            "csrf": form_csrf, "name": name, "password": password, "totp": code}) as resp:
        assert resp.status == 303, (resp.status, await resp.text())
    async with http.get(base + "/console/") as resp:
        match = re.search(r'data-csrf="([^"]+)"', await resp.text())
    assert match is not None, "not signed in"
    return match.group(1)


async def console_socket_token(http: aiohttp.ClientSession, base: str, csrf: str) -> str:
    """A socket token from the console, as console.js asks for it."""
    async with http.post(base + "/console/api/socket-token", json={},
                         headers={"X-CSRF-Token": csrf}) as resp:
        assert resp.status == 200, (resp.status, await resp.text())
        return str((await resp.json())["token"])


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)
