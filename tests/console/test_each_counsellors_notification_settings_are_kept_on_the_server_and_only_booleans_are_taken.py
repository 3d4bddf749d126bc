"""Each counsellor's notification settings are kept on the server (``/console/api/settings``),
on SQLite and PostgreSQL: all off until chosen, the whole set replaced by a PUT with the CSRF
token, one counsellor's choice never another's. A body that is not exactly the four booleans
is refused with a 400 that names what is wrong, and nothing changes; without a session, the
token or a chatting role, nothing is read or changed. Only the workspace's CSP lets in the
favicon the page draws (``blob:``), nothing else and no ``data:``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import nullcontext

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from chatserver.config import Config
from chatserver.main import create_app
from tests.support.database import pg_database, pg_url
from tests.support.harness import Harness

OFF = {"request_sound": False, "request_notice": False, "message_sound": False,
       "message_notice": False}
CHOSEN = {"request_sound": False, "request_notice": True, "message_sound": True,
          "message_notice": True}
# Each with what the 400 must name.
GARBAGE: list[tuple[bytes, str]] = [
    (b"{not json", "JSON"),
    (b"\xff", "JSON"),
    (b"[true, false, true, true]", "object"),
    (b'"request_sound"', "object"),
    (b"{}", "request_sound"),
    (b'{"request_sound": true, "request_notice": true, "message_sound": true}',
     "message_notice"),
    (b'{"request_sound": true, "request_notice": true, "message_sound": true, '
     b'"message_notice": true, "volume": true}', "volume"),
    (b'{"request_sound": 1, "request_notice": true, "message_sound": true, '
     b'"message_notice": true}', "request_sound"),
    (b'{"request_sound": true, "request_notice": "true", "message_sound": true, '
     b'"message_notice": true}', "request_notice"),
    (b'{"request_sound": true, "request_notice": true, "message_sound": null, '
     b'"message_notice": true}', "message_sound"),
    (b'{"request_sound": true, "request_notice": true, "message_sound": true, '
     b'"message_notice": {"on": true}}', "message_notice"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def served(request: pytest.FixtureRequest,
                 make_config: Callable[..., Config]) -> AsyncIterator[Harness]:
    """A running server on each database."""
    database = pg_database("ek_settings_") if request.param == "postgresql" else nullcontext("")
    async with database as name:
        config = make_config(**({"database_url": pg_url(name)} if name else {}))
        server = TestServer(create_app(config))
        await server.start_server()
        harness = Harness(server.app, str(server.make_url("/")))
        try:
            yield harness
        finally:
            await harness.close()
            await server.close()


async def test_settings_are_each_counsellors_own_and_only_four_booleans_are_taken(
    served: Harness,
) -> None:
    url = served.url + "/console/api/settings"
    anna = await served.console_session("anna")
    ben = await served.console_session("ben")
    async with aiohttp.ClientSession(cookies={"ek_console": anna.key}) as as_anna, \
            aiohttp.ClientSession(cookies={"ek_console": ben.key}) as as_ben:
        async with as_anna.get(url) as resp:
            assert resp.status == 200
            assert await resp.json() == OFF
        async with as_anna.put(url, json=CHOSEN, headers={"X-CSRF-Token": anna.csrf}) as resp:
            assert resp.status == 200
            assert await resp.json() == CHOSEN
        async with as_anna.get(url) as resp:
            assert await resp.json() == CHOSEN

        # Ben's are his own: still all off, and what he chooses leaves Anna's as they were.
        async with as_ben.get(url) as resp:
            assert await resp.json() == OFF
        bens = {**OFF, "request_sound": True}
        async with as_ben.put(url, json=bens, headers={"X-CSRF-Token": ben.csrf}) as resp:
            assert resp.status == 200
        async with as_anna.get(url) as resp:
            assert await resp.json() == CHOSEN
        async with as_ben.get(url) as resp:
            assert await resp.json() == bens
        # Anna's token is no good for Ben's session.
        async with as_ben.put(url, json=OFF, headers={"X-CSRF-Token": anna.csrf}) as resp:
            assert resp.status == 403

        for body, named in GARBAGE:
            async with as_anna.put(url, data=body, headers={
                    "X-CSRF-Token": anna.csrf, "Content-Type": "application/json"}) as resp:
                assert resp.status == 400, (body, resp.status)
                said = await resp.text()
                assert named in said, (body, said)
        async with as_anna.put(url, data=b'{"request_sound": true, ' + b" " * 2000 + b"}",
                               headers={"X-CSRF-Token": anna.csrf}) as resp:
            assert resp.status == 413
        # Without the CSRF token, nothing changes.
        async with as_anna.put(url, json=OFF) as resp:
            assert resp.status == 403
        async with as_anna.put(url, json=OFF, headers={"X-CSRF-Token": "x" * 43}) as resp:
            assert resp.status == 403
        async with as_anna.get(url) as resp:
            assert await resp.json() == CHOSEN

    # Without a session: nothing read, nothing changed.
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert resp.status in (401, 403)
        async with http.put(url, json=OFF, headers={"X-CSRF-Token": anna.csrf}) as resp:
            assert resp.status in (401, 403)
    # A role that does not chat has no such settings.
    sue = await served.console_session("sue", role="supervisor")
    async with aiohttp.ClientSession(cookies={"ek_console": sue.key}) as as_sue:
        async with as_sue.get(url) as resp:
            assert resp.status == 403
        async with as_sue.put(url, json=OFF, headers={"X-CSRF-Token": sue.csrf}) as resp:
            assert resp.status == 403
    async with aiohttp.ClientSession(cookies={"ek_console": anna.key}) as as_anna, \
            as_anna.get(url) as resp:
        assert await resp.json() == CHOSEN


def _directives(header: str) -> dict[str, list[str]]:
    return {words[0]: words[1:] for part in header.split(";") if (words := part.split())}


async def test_only_the_workspace_lets_in_the_favicon_it_draws(served: Harness) -> None:
    anna = await served.console_session("anna")
    async with aiohttp.ClientSession(cookies={"ek_console": anna.key}) as http:
        async with http.get(served.url + "/console/") as resp:
            assert resp.status == 200
            workspace = _directives(resp.headers["Content-Security-Policy"])
        async with http.get(served.url + "/console/account") as resp:
            account = _directives(resp.headers["Content-Security-Policy"])
    async with aiohttp.ClientSession() as http, http.get(served.url + "/console/login") as resp:
        login = _directives(resp.headers["Content-Security-Policy"])
    assert workspace["img-src"] == ["'self'", "blob:"]
    assert login["img-src"] == account["img-src"] == ["'self'"]
    # Otherwise the same policy, word for word.
    assert {k: v for k, v in workspace.items() if k != "img-src"} == \
        {k: v for k, v in login.items() if k != "img-src"}
    for policy in (workspace, login, account):
        assert not any("data:" in words for words in policy.values())
