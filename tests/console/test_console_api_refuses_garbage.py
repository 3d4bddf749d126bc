"""The console's JSON routes answer garbage with a clear 4xx, never a 500."""

from __future__ import annotations

import aiohttp

from tests.support.harness import Harness

GARBAGE = (b"{not json", b"[1, 2]", b'"x"', b'{"title": 5, "blob": 7, "identity_pk": 5}',
           b"\xff")


async def test_console_json_routes_refuse_garbage(harness: Harness) -> None:
    session = await harness.console_session("anna")
    headers = {"X-CSRF-Token": session.csrf, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(cookies={"ek_console": session.key}) as http:
        for path in ("/console/api/socket-token", "/console/api/canned", "/console/api/keys"):
            for body in GARBAGE:
                async with http.post(harness.url + path, data=body, headers=headers) as resp:
                    assert 400 <= resp.status < 500, (path, body, resp.status)
