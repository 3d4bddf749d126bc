"""A running chat server plus helpers to make signed-in counsellors and visitors."""

from __future__ import annotations

import secrets
import time
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import parse_qs, urlparse

import pyotp
from aiohttp import web

from chatserver.records.accounts import Session
from chatserver.web.appkeys import RELAY, USERS
from tests.support.accounts import bound_token
from tests.support.clients import CounsellorClient, VisitorClient

CONSOLE_PASSWORD = "ein-langes-passwort"


def totp_of(uri: str) -> pyotp.TOTP:
    """The one-time-code generator of the otpauth URI an account was made with."""
    return pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0])


class Harness:
    """One server under test, and every client a test opened on it (closed at teardown)."""

    def __init__(self, app: web.Application, url: str) -> None:
        self.app = app
        self.url = url.rstrip("/")
        self._stack = AsyncExitStack()

    async def token(self, name: str = "", role: str = "counsellor", pseudonym: str = "") -> str:
        """A socket token of a signed-in console session of ``name`` (an account made if
        need be, its id being its name), as the console hands it out."""
        return await bound_token(self.app[USERS], self.app[RELAY].state,
                                 name or "u" + secrets.token_hex(4), pseudonym or "Beraterin",
                                 role)

    async def counsellor(self, name: str = "", pseudonym: str = "Anna",
                         on_duty: bool = True, **kwargs: Any) -> CounsellorClient:
        client = CounsellorClient(self.url, await self.token(name, pseudonym=pseudonym), **kwargs)
        await client.connect()
        self._stack.push_async_callback(client.disconnect)
        client.ident = name  # type: ignore[attr-defined]
        if on_duty:
            assert (await client.duty(True))["ok"]
        return client

    async def visitor(self, **kwargs: Any) -> VisitorClient:
        client = VisitorClient(self.url, **kwargs)
        await client.connect()
        self._stack.push_async_callback(client.disconnect)
        return client

    async def accepted_chat(self, name: str = "anna", pseudonym: str = "Anna"
                            ) -> tuple[CounsellorClient, VisitorClient]:
        """An on-duty counsellor and a visitor whose chat request the counsellor accepted (the
        visitor's ``accepted`` event is left for the test to read)."""
        counsellor = await self.counsellor(name, pseudonym)
        visitor = await self.visitor()
        assert (await visitor.request())["ok"]
        assert (await counsellor.accept(visitor.chat_id))["ok"]
        return counsellor, visitor

    async def console_session(self, name: str, role: str = "counsellor",
                              pseudonym: str = "") -> Session:
        """A console account made for the test, signed in with its password and a fresh
        one-time code (what the login form does, without the page)."""
        uri = await self.app[USERS].add(name, role, CONSOLE_PASSWORD,
                                        pseudonym or f"Beraterin {name}")
        return await self.app[USERS].login(name, CONSOLE_PASSWORD, totp_of(uri).now(),
                                           time.time())

    def track(self, client: VisitorClient | CounsellorClient) -> None:
        """Close ``client`` at teardown."""
        self._stack.push_async_callback(client.disconnect)

    async def close(self) -> None:
        await self._stack.aclose()
