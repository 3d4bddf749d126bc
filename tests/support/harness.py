"""A running chat server plus helpers to make signed-in counsellors and visitors."""

from __future__ import annotations

import secrets
from contextlib import AsyncExitStack
from typing import Any

from aiohttp import web

from chatserver.relay.state import Identity
from chatserver.web.appkeys import RELAY
from tests.support.clients import CounsellorClient, VisitorClient


class Harness:
    """One server under test, and every client a test opened on it (closed at teardown)."""

    def __init__(self, app: web.Application, url: str) -> None:
        self.app = app
        self.url = url.rstrip("/")
        self._stack = AsyncExitStack()

    async def token(self, name: str = "", role: str = "counsellor", pseudonym: str = "") -> str:
        ident = Identity(name or "u" + secrets.token_hex(4), pseudonym or "Beraterin", role)
        return await self.app[RELAY].tokens.issue(ident, 3600)

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

    def track(self, client: VisitorClient | CounsellorClient) -> None:
        """Close ``client`` at teardown."""
        self._stack.push_async_callback(client.disconnect)

    async def close(self) -> None:
        await self._stack.aclose()
