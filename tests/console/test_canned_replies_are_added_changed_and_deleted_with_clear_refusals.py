"""The team's canned replies are added, changed and deleted from the console (any counsellor,
with the CSRF token); an unknown or malformed id answers 404, garbage 400, and without a
session or token nothing changes."""

from __future__ import annotations

import aiohttp

from chatserver.web.appkeys import USERS
from tests.support.harness import Harness

GARBAGE = (b"{not json", b"[1, 2]", b'{"title": 5, "body": "x"}', b'{"title": "", "body": "x"}',
           b'{"title": "t", "body": "' + b"x" * 4001 + b'"}', b"\xff")


async def test_canned_replies_are_added_changed_and_deleted_with_clear_refusals(
    harness: Harness,
) -> None:
    session = await harness.console_session("anna")
    headers = {"X-CSRF-Token": session.csrf}
    url = harness.url + "/console/api/canned"
    users = harness.app[USERS]
    async with aiohttp.ClientSession(cookies={"ek_console": session.key}) as http:
        async with http.post(url, json={"title": "Begrüßung", "body": "Hallo!"},
                             headers=headers) as resp:
            assert resp.status == 201
            reply_id = (await resp.json())["id"]
        async with http.put(f"{url}/{reply_id}", json={"title": "Gruß", "body": "Guten Tag!"},
                            headers=headers) as resp:
            assert resp.status == 200
        assert [(c["title"], c["body"]) for c in await users.canned()] == [("Gruß", "Guten Tag!")]

        for body in GARBAGE:
            async with http.put(f"{url}/{reply_id}", data=body, headers=headers) as resp:
                assert resp.status == 400, (body, resp.status)
        for bad in ("0" * 16, "nicht-hex", "0" * 17):
            async with http.put(f"{url}/{bad}", json={"title": "t", "body": "b"},
                                headers=headers) as resp:
                assert resp.status == 404, bad
            async with http.delete(f"{url}/{bad}", headers=headers) as resp:
                assert resp.status == 404, bad
        # Without the CSRF token, nothing changes.
        async with http.put(f"{url}/{reply_id}", json={"title": "x", "body": "y"}) as resp:
            assert resp.status == 403
        async with http.delete(f"{url}/{reply_id}") as resp:
            assert resp.status == 403
        assert [c["title"] for c in await users.canned()] == ["Gruß"]

        async with http.delete(f"{url}/{reply_id}", headers=headers) as resp:
            assert resp.status == 200
        assert await users.canned() == []
        async with http.delete(f"{url}/{reply_id}", headers=headers) as resp:
            assert resp.status == 404
    # Without a session: refused.
    async with aiohttp.ClientSession() as http, \
            http.delete(f"{url}/{reply_id}", headers=headers) as resp:
        assert resp.status in (401, 403)
