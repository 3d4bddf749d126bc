"""Console accounts for tests: signing in through the console as a browser does."""

from __future__ import annotations

import re

import aiohttp


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
