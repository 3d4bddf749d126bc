"""The console's language is each account's own, kept on the server: the switch is a form with
the session's CSRF token (without it, or with an unknown language, nothing changes), it leads
back only to a console page, and every page then answers in that language with ``<html lang>``
to match. Before sign-in the login page follows ``?lang=``, then Accept-Language, else German."""

from __future__ import annotations

import re

import aiohttp

from chatserver.vocabulary import Lang
from chatserver.web.appkeys import USERS
from tests.support.harness import Harness

PAGES = ("/console/", "/console/account")


async def page_lang(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as resp:
        assert resp.status == 200, url
        found = re.search(r'<html lang="(\w+)">', await resp.text())
    assert found is not None
    return found.group(1)


async def test_the_switch_needs_the_token_and_the_choice_outlives_the_session(
        harness: Harness) -> None:
    session = await harness.console_session("akeller")
    cookies = {"ek_console": session.key}
    async with aiohttp.ClientSession(cookies=cookies) as http:
        for path in PAGES:
            assert await page_lang(http, harness.url + path) == "de"
        for form in ({"lang": "en"}, {"lang": "en", "csrf": "falsch"}):
            async with http.post(harness.url + "/console/language", data=form,
                                 allow_redirects=False) as resp:
                assert resp.status == 403
        async with http.post(harness.url + "/console/language", allow_redirects=False,
                             data={"csrf": session.csrf, "lang": "fr"}) as resp:
            assert resp.status == 400
        assert await page_lang(http, harness.url + "/console/") == "de"
        for back, to in (("/console/account", "/console/account"),
                         ("https://elsewhere.example/", "/console/"),
                         ("//elsewhere.example/console/", "/console/")):
            async with http.post(harness.url + "/console/language", allow_redirects=False,
                                 data={"csrf": session.csrf, "lang": "en",
                                       "next": back}) as resp:
                assert resp.status == 303 and resp.headers["Location"] == to, back
        for path in PAGES:
            assert await page_lang(http, harness.url + path) == "en"
        async with http.get(harness.url + "/console/") as resp:
            text = await resp.text()
        assert "Go on duty" in text and "Dienst beginnen" not in text
    # Kept with the account: a new session speaks English too.
    user = await harness.app[USERS].find("akeller")
    assert user is not None and user.language == Lang.EN.value


async def test_the_login_page_follows_lang_then_the_browser(harness: Harness) -> None:
    async with aiohttp.ClientSession() as http:
        login = harness.url + "/console/login"
        assert await page_lang(http, login) == "de"
        async with http.get(login, headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"}) as r:
            text = await r.text()
        assert '<html lang="en">' in text and "One-time code" in text and "Einmalcode" not in text
        async with http.get(login, headers={"Accept-Language": "fr,de;q=0.3,en;q=0.2"}) as r:
            assert '<html lang="de">' in await r.text()
        async with http.get(login + "?lang=de",
                            headers={"Accept-Language": "en"}) as r:
            assert '<html lang="de">' in await r.text()
        async with http.get(login + "?lang=en") as r:
            assert '<html lang="en">' in await r.text()
