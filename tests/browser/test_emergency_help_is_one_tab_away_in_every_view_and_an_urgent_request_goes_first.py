"""Visitor care in Chromium, on desktop and at 390×844: the emergency panel (110/112, the
Telefonseelsorge, the configured local line) is reached by Tab from the start of the frame and
opened by Enter in every view (welcome, waiting, chat, end), its numbers as tel: links that
need no fetch; a request marked urgent goes ahead of an earlier one in the console's queue,
marked, and the earlier visitor's place moves back; the "Sicher schreiben" guide opens by
keyboard with its sections in German and English; axe finds nothing on any of these views."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from chatserver.config import Config
from chatserver.web.appkeys import RELAY, USERS
from tests.support.browser import (
    PASSWORD,
    chromium,
    login,
    serious_violations_under_csp,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
LOCAL = "Opferberatung Kiel: 0431 123456"
NUMBERS = ["tel:110", "tel:112", "tel:08001110111", "tel:08001110222", "tel:0431123456"]
SECTIONS = {
    "de": ["In Leichter Sprache", "Privates Fenster", "Tor Browser", "Geteilte Geräte",
           "Dein Codewort", "Die Sicherheitsnummer", "Schnell verlassen", "Was wir speichern"],
    "en": ["In Easy German (Leichte Sprache)", "Private window", "Tor Browser",
           "Shared devices", "Your codename", "The safety number", "Quick exit", "What we keep"],
}


async def focused(page: Page) -> str:
    return str(await page.evaluate("document.activeElement.id || document.activeElement.className"))


async def tab_from_start_to(page: Page, target: str, most: int) -> int:
    """Press Tab from the start of the frame until ``target`` has focus; how many presses."""
    await page.evaluate("""() => {
        document.body.tabIndex = -1;
        document.body.focus();
        document.body.removeAttribute('tabindex');
    }""")
    for presses in range(1, most + 1):
        await page.keyboard.press("Tab")
        if await focused(page) == target:
            return presses
    raise AssertionError(f"{target} not reached in {most} presses; at {await focused(page)}")


async def emergency_by_keyboard(page: Page, view: str) -> None:
    """In the current view: Tab reaches "Notfall?" right after quick exit, Enter opens the
    panel with every number as a tel: link, axe is content, Escape closes it."""
    assert await tab_from_start_to(page, "sos", 3) == 2, view
    await page.keyboard.press("Enter")
    panel = page.get_by_role("region", name="Wenn du in Gefahr bist")
    await expect(panel).to_be_visible()
    await expect(page.locator("#sos")).to_have_attribute("aria-expanded", "true")
    for number in NUMBERS:
        await expect(panel.locator(f'a[href="{number}"]')).to_be_visible()
    await expect(panel.get_by_text("Telefonseelsorge")).to_be_visible()
    await expect(panel.get_by_text("Opferberatung Kiel")).to_be_visible()
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.href") == "tel:110", view
    assert await serious_violations_under_csp(page) == [], view
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    assert await focused(page) == "sos", view


async def anna_on_duty(browser: Browser, h: Harness) -> Page:
    uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
    anna = await (await browser.new_context()).new_page()
    await login(anna, h.url, "akeller", totp_of(uri).now())
    await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()
    await anna.get_by_role("button", name="Dienst beginnen").click()
    await anna.get_by_text("Im Dienst").wait_for()
    return anna


async def guide_by_keyboard(page: Page) -> None:
    """The guide opens from its button by Enter, shows its sections in German, follows a
    switch to English, and closes by Escape back to its button."""
    await tab_from_start_to(page, "guide-open", 6)
    await page.keyboard.press("Enter")
    guide = page.get_by_role("region", name="Sicher schreiben")
    await expect(guide).to_be_visible()
    assert await focused(page) == "guide-title"
    await expect(guide.locator("h3")).to_have_text(SECTIONS["de"])
    await expect(guide.locator("section[lang=de]")).to_contain_text("Ruf die Polizei an: 110.")
    await expect(guide).to_contain_text("verschlüsselt 123 Tage auf")
    await expect(guide).to_contain_text("Den Verlauf früherer Seiten kann er nicht löschen")
    assert await serious_violations_under_csp(page) == []
    await page.locator("#lang").select_option("en")
    guide = page.get_by_role("region", name="Writing safely")
    await expect(guide.locator("h3")).to_have_text(SECTIONS["en"])
    await expect(guide).to_contain_text("for 123 days")
    await expect(guide).to_contain_text("cannot delete the history of earlier pages")
    assert await serious_violations_under_csp(page) == []
    await guide.get_by_role("button", name="Close").focus()
    await page.keyboard.press("Escape")
    await expect(guide).to_be_hidden()
    assert await focused(page) == "guide-open"
    await page.locator("#lang").select_option("de")


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_emergency_help_is_one_tab_away_in_every_view_and_an_urgent_request_goes_first(
    make_config: Callable[..., Config], tmp_path: Path, viewport: str
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True,
                             emergency_numbers=(LOCAL,), record_retention_days=123.0,
                             controller="KAST e. V., Musterstraße 1, 24103 Kiel",
                             privacy_url="https://example.org/datenschutz") as h, \
            chromium() as browser:
        anna = await anna_on_duty(browser, h)
        size = VIEWPORTS[viewport]
        first = await (await browser.new_context(viewport=size)).new_page()  # type: ignore[arg-type]
        await first.goto(h.url + "/widget/frame")
        await first.get_by_role("button", name="Chat beginnen").wait_for()
        await emergency_by_keyboard(first, "welcome")
        await guide_by_keyboard(first)
        await first.get_by_label("Angehörige oder Freundeskreis").check()
        await first.get_by_role("button", name="Chat beginnen").click()
        await first.get_by_text("Du bist auf Platz 1").wait_for()
        await emergency_by_keyboard(first, "wait")

        # A later visitor says it is urgent: first in the queue, marked; the earlier one is
        # told their place moved.
        urgent = await (await browser.new_context(viewport=size)).new_page()  # type: ignore[arg-type]
        await urgent.goto(h.url + "/widget/frame")
        await urgent.get_by_label("Fachkraft (z. B. Bewährungshilfe)").check()
        await urgent.get_by_label("Es ist dringend").check()
        await urgent.get_by_role("button", name="Chat beginnen").click()
        await urgent.get_by_text("Du bist auf Platz 1").wait_for()
        await first.get_by_text("Du bist auf Platz 2").wait_for()
        queue = anna.locator("#queue li")
        await expect(queue).to_have_count(2)
        await expect(queue.nth(0)).to_contain_text(
            re.compile(r"^Dringend · Fachkraft · Deutsch"))
        await expect(queue.nth(1)).to_contain_text(re.compile(r"^Angehörige · Deutsch"))
        await expect(queue.nth(1).get_by_text("Dringend")).to_have_count(0)
        await expect(anna.locator("#status")).to_have_text("Dringende Anfrage")
        assert [c.urgent for c in await h.app[RELAY].state.queued()] == [True, False]
        await queue.nth(0).get_by_role("button", name="Annehmen").click()
        await urgent.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await emergency_by_keyboard(urgent, "chat")
        await urgent.get_by_role("button", name="Chat beenden", exact=True).click()
        await urgent.get_by_role("heading", name="Der Chat ist beendet").wait_for()
        await emergency_by_keyboard(urgent, "end")
