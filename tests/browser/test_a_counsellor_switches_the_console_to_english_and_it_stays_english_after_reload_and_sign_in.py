"""A counsellor switches the console to English: every label is then English, one language at
a time (no "German / English" pair left), a reload and signing out and in again keep it (the
choice is the account's, kept on the server), a server refusal reads in English, axe finds
nothing in English, and the switch leads back to German. Before sign-in the login page follows
the browser's language, and ``?lang=`` over it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.browser import (
    KEY_PASSPHRASE,
    PASSWORD,
    chromium,
    login,
    violations_under_csp,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of

pytestmark = pytest.mark.browser

# Words only the German console says, one per area: none may be left in English.
GERMAN = ("Dienst", "Warteschlange", "Offene Chats", "Schlüssel", "Fallakten", "Textbausteine",
          "Abmelden", "Konto", "Tastenkürzel", "Beratungskonsole")


async def english_everywhere(page: Page) -> None:
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", name="Counselling console")).to_be_visible()
    await expect(page.get_by_role("button", name="Go on duty")).to_be_visible()
    # The role too, never the code it is stored as.
    await expect(page.get_by_text("Signed in as Anna (Counsellor)")).to_be_visible()
    for name in ("Chats", "Case records", "Anonymous messages", "Canned replies"):
        await expect(page.get_by_role("tab", name=re.compile("^" + name))).to_be_visible()
    switch = page.locator("#switch-lang")
    await expect(switch).to_have_text("Deutsch")
    await expect(switch).to_have_attribute("lang", "de")
    shown = await page.locator("body").inner_text()
    assert " / " not in shown, [line for line in shown.splitlines() if " / " in line]
    for word in GERMAN:
        assert word not in shown, word


async def test_the_console_speaks_english_until_switched_back(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        page = await (await browser.new_context()).new_page()
        await login(page, h.url, "akeller", totp_of(uri).now())
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        await expect(page.get_by_role("button", name="Dienst beginnen")).to_be_enabled()
        await expect(page.get_by_text("Angemeldet als Anna (Beratung)")).to_be_visible()
        switch = page.locator("#switch-lang")
        await expect(switch).to_have_text("English")
        await expect(switch).to_have_attribute("lang", "en")

        await switch.click()
        await english_everywhere(page)
        await expect(page.get_by_role("button", name="Go on duty")).to_be_enabled()

        # A refusal of the server, in English: accepting before going on duty.
        visitor = await h.visitor()
        assert (await visitor.request())["ok"]
        await page.get_by_role("button", name="Accept").click()
        await expect(page.locator("#status")).to_have_text("Go on duty before accepting chats")

        await page.reload()
        await english_everywhere(page)

        # Signed out and in again: the login page follows the browser (German here), the
        # console the account's choice.
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("heading", name="Anmeldung")).to_be_visible()
        await page.get_by_label("Name").fill("akeller")
        await page.get_by_label("Passwort").fill(PASSWORD)
        # The next step's code: the one used a moment ago is never accepted twice.
        await page.get_by_label("Einmalcode").fill(totp_of(uri).at(time.time() + 30))
        await page.get_by_role("button", name="Anmelden").click()
        await page.get_by_label("Key passphrase", exact=True).fill(KEY_PASSPHRASE)
        await page.get_by_role("button", name="Unlock", exact=True).click()
        await page.locator("#unlock").wait_for(state="hidden")
        await english_everywhere(page)
        await page.get_by_role("button", name="Go on duty").click()
        await expect(page.locator("#status")).to_have_text("On duty")
        assert await violations_under_csp(page) == []

        await page.locator("#switch-lang").click()
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        await expect(page.get_by_role("button", name="Dienst beenden")).to_be_visible()
        await expect(page.locator("#switch-lang")).to_have_text("English")


async def test_the_login_page_follows_the_browser_and_lang_over_it(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        english = await (await browser.new_context(locale="en-GB")).new_page()
        await english.goto(h.url + "/console/login")
        await expect(english.locator("html")).to_have_attribute("lang", "en")
        await expect(english.get_by_role("heading", name="Sign in")).to_be_visible()
        await expect(english.get_by_label("One-time code")).to_be_visible()
        assert " / " not in await english.locator("body").inner_text()
        assert await violations_under_csp(english) == []
        await english.locator("#switch-lang").click()
        await expect(english.locator("html")).to_have_attribute("lang", "de")
        await expect(english.get_by_role("heading", name="Anmeldung")).to_be_visible()
        await expect(english.get_by_label("Einmalcode")).to_be_visible()


async def test_every_other_console_page_speaks_english_too(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    """Account, team, statistics and audit trail, for an administrator who chose English: one
    language, ``<html lang="en">``, the switch in German, axe with no finding."""
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        users = h.app[USERS]
        uri = await users.add("root", "admin", PASSWORD, pseudonym="Rita")
        page = await (await browser.new_context()).new_page()
        await login(page, h.url, "root", totp_of(uri).now())
        await page.locator("#switch-lang").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        for path, heading in (("/console/account", "Account"), ("/console/team", "Team"),
                              ("/console/stats", "Statistics"),
                              ("/console/audit", "Audit trail")):
            await page.goto(h.url + path)
            await expect(page.locator("html")).to_have_attribute("lang", "en")
            await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
            shown = await page.locator("body").inner_text()
            assert " / " not in shown, (path, [x for x in shown.splitlines() if " / " in x])
            for word in (*GERMAN, "Zur Konsole", "Statistik", "Protokoll"):
                assert word not in shown, (path, word)
            assert await violations_under_csp(page) == [], path


async def test_a_delivery_mark_kept_over_the_switch_reads_in_the_new_language(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    """A line's delivery mark, kept for the reload the switch makes, is said anew in the
    language switched to, not in the one it was written in."""
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        page = await (await browser.new_context()).new_page()
        await login(page, h.url, "akeller", totp_of(uri).now())
        await page.get_by_role("button", name="Dienst beginnen").click()
        await expect(page.locator("#status")).to_have_text("Im Dienst")
        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await page.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await page.get_by_label("Nachricht", exact=True).fill("Guten Abend")
        await page.get_by_role("button", name="Senden", exact=True).click()
        await visitor.get_by_text("Guten Abend").wait_for()
        line = page.locator("#log li.me", has_text="Guten Abend")
        await expect(line.locator("small")).to_have_text(" zugestellt")

        await page.locator("#switch-lang").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(line.locator("small")).to_have_text(" delivered")
        await page.locator("#switch-lang").click()
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        await expect(line.locator("small")).to_have_text(" zugestellt")
