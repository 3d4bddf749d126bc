"""``/console`` as typed or bookmarked leads to the console, not to a 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from chatserver.config import Config
from chatserver.main import create_app


async def test_console_without_slash_redirects_permanently(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any]
) -> None:
    server = await aiohttp_server(create_app(make_config()))
    async with aiohttp.ClientSession() as http:
        for method in ("GET", "HEAD"):
            async with http.request(method, server.make_url("/console"),
                                    allow_redirects=False) as resp:
                assert resp.status == 301, method
                assert resp.headers["Location"] == "/console/"
                # A redirect is a response like any other: the locked-down headers too.
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                assert "Content-Security-Policy" in resp.headers
        async with http.get(server.make_url("/console?lang=en"),
                            allow_redirects=False) as resp:
            assert resp.headers["Location"] == "/console/?lang=en"
        # Followed all the way, it ends on the login page.
        async with http.get(server.make_url("/console")) as resp:
            assert resp.status == 200
            assert resp.url.path == "/console/login"
        # Only the exact path: nothing next to it becomes a way into the console.
        for path in ("/consolex", "/console.php", "/Console"):
            async with http.get(server.make_url(path), allow_redirects=False) as resp:
                assert resp.status == 404, path
