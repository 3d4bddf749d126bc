"""HTTP helpers for the console's passkeys: a server whose relying party is ``localhost``, and
the requests the login and account pages make (with :class:`SoftAuthenticator`)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from chatserver.config import Config
from chatserver.main import create_app
from tests.support.authenticator import SoftAuthenticator
from tests.support.harness import Harness
from tests.support.redis_server import free_port


@asynccontextmanager
async def passkey_server(make_config: Callable[..., Config],
                         **overrides: object) -> AsyncIterator[Harness]:
    """A server reached as http://localhost:PORT (its only public origin, so the passkeys'
    relying party is ``localhost``); requests go to 127.0.0.1, so the Host header differs."""
    port = free_port()
    origin = f"http://localhost:{port}"
    config = make_config(port=port, public_origins=(origin,), **overrides)
    server = TestServer(create_app(config), host="127.0.0.1", port=port)
    await server.start_server()
    harness = Harness(server.app, f"http://127.0.0.1:{port}")
    try:
        yield harness
    finally:
        await harness.close()
        await server.close()


def origin_of(h: Harness) -> str:
    """The origin a browser has for the console of :func:`passkey_server`."""
    return h.url.replace("://127.0.0.1:", "://localhost:")


async def login_csrf(http: aiohttp.ClientSession, url: str) -> str:
    """The login page's CSRF token (its cookie lands in ``http``'s jar)."""
    async with http.get(url + "/console/login") as resp:
        found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert found is not None
    return found.group(1)


async def begin_sign_in(http: aiohttp.ClientSession, url: str) -> tuple[str, str, dict[str, Any]]:
    """What the login page does when "Passkey statt Einmalcode" is pressed: (csrf, attempt,
    options)."""
    csrf = await login_csrf(http, url)
    async with http.post(url + "/console/login/passkey",
                         headers={"X-CSRF-Token": csrf}) as resp:
        assert resp.status == 200, await resp.text()
        begun = await resp.json()
    return csrf, begun["attempt"], begun["options"]


async def post_login(http: aiohttp.ClientSession, url: str, csrf: str, name: str,
                     password: str, attempt: str, assertion: dict[str, Any] | str
                     ) -> tuple[int, str, str]:
    """Send the login form with a passkey's answer: (status, Location, page text)."""
    text = assertion if isinstance(assertion, str) else json.dumps(assertion)
    async with http.post(url + "/console/login", allow_redirects=False, data={
            "csrf": csrf, "name": name, "password": password, "totp": "",
            "attempt": attempt, "assertion": text}) as resp:
        return resp.status, resp.headers.get("Location", ""), await resp.text()


async def sign_in(http: aiohttp.ClientSession, url: str, name: str, password: str,
                  auth: SoftAuthenticator) -> tuple[int, str, str]:
    """Sign in with name, password and the authenticator's newest passkey."""
    csrf, attempt, options = await begin_sign_in(http, url)
    return await post_login(http, url, csrf, name, password, attempt, auth.get(options))


async def register(http: aiohttp.ClientSession, url: str, csrf: str, password: str,
                   code: str, auth: SoftAuthenticator, label: str = "Laptop") -> str:
    """Register a new passkey of ``auth`` as the account page does; returns its id."""
    headers = {"X-CSRF-Token": csrf}
    async with http.post(url + "/console/api/passkeys/options", headers=headers,
                         json={"password": password, "totp": code}) as resp:
        assert resp.status == 200, await resp.text()
        begun = await resp.json()
    async with http.post(url + "/console/api/passkeys", headers=headers, json={
            "attempt": begun["attempt"], "credential": auth.create(begun["options"]),
            "label": label}) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])
