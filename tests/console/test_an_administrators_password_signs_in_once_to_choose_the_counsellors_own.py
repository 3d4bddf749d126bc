"""A password an administrator set (``chatserver user add/reset``) is one-time: signing in with
it opens only the page to choose one's own; every other console route refuses until then, the
same password again is refused, and afterwards the console and the key wraps answer."""

from __future__ import annotations

import re

import aiohttp

from chatserver.web.appkeys import USERS
from tests.support.harness import Harness, totp_of

GIVEN = "vom-admin-vergeben-1"
OWN = "mein-eigenes-passwort"


async def test_the_given_password_opens_only_the_page_to_choose_ones_own(
        harness: Harness) -> None:
    users = harness.app[USERS]
    uri = await users.add("akeller", "counsellor", GIVEN, pseudonym="Anna", one_time=True)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(harness.url + "/console/login") as resp:
            form_csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert form_csrf is not None
        async with http.post(harness.url + "/console/login", allow_redirects=False, data={
                "csrf": form_csrf.group(1), "name": "akeller", "password": GIVEN,
                "totp": totp_of(uri).now()}) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/console/password"
        async with http.get(harness.url + "/console/", allow_redirects=False) as resp:
            assert resp.headers["Location"] == "/console/password"
        for path in ("/console/api/keys", "/console/api/canned"):
            async with http.get(harness.url + path) as resp:
                assert resp.status == 403, path
        async with http.get(harness.url + "/console/password") as resp:
            page = await resp.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        for new, again in ((GIVEN, GIVEN), ("kurz", "kurz"), (OWN, OWN + "x")):
            async with http.post(harness.url + "/console/password", allow_redirects=False,
                                 data={"csrf": csrf.group(1), "password": new,
                                       "again": again}) as resp:
                assert resp.status == 400, (new, again)
        async with http.post(harness.url + "/console/password", allow_redirects=False,
                             data={"csrf": "falsch", "password": OWN, "again": OWN}) as resp:
            assert resp.status == 403
        async with http.post(harness.url + "/console/password", allow_redirects=False,
                             data={"csrf": csrf.group(1), "password": OWN,
                                   "again": OWN}) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/console/"
        async with http.get(harness.url + "/console/api/keys") as resp:
            assert resp.status == 200
            assert await resp.json() == {"wraps": [], "legacy": ""}
    assert await users.check_password("akeller", OWN)
    assert not await users.check_password("akeller", GIVEN)
    # A reset by the administrator is one-time again.
    await users.reset("akeller", GIVEN)
    session = await users.open_session("akeller", 0.0)
    assert (await users.session(session.key, 1.0)) is not None
    assert (await users.session(session.key, 1.0)).password_once  # type: ignore[union-attr]
