"""Every view of the widget, in Chromium on desktop and at 390×844, read by axe-core with no
finding of any impact: the offline welcome with a message left, the welcome while someone is
on duty (with the emergency panel, the guide, the codename form and the withdrawal question
open), waiting, the chat with the consent question and the codename, and the end; in German
and in English. In a frame of the embedded size (24×36 rem) the composer stays in sight however
long the chat grows, and the codename can be copied with one button."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.browser import PASSWORD, chromium, login, violations_under_csp, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of

pytestmark = pytest.mark.browser

# The embedded frame is min(24rem, 100vw - 2rem) × min(36rem, 100vh - 6rem) (embed.js).
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844},
             "frame": {"width": 384, "height": 576}}


async def clean(page: Page, view: str) -> None:
    """axe finds nothing on ``page`` in German, nor after switching to English (and back)."""
    found = {"de": await violations_under_csp(page)}
    if await page.locator("#lang").is_visible():
        await page.locator("#lang").select_option("en")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        found["en"] = await violations_under_csp(page)
        await page.locator("#lang").select_option("de")
    assert found == {lang: [] for lang in found}, view


async def in_sight(page: Page, selector: str) -> bool:
    """Whether the element's whole box lies inside the viewport."""
    return bool(await page.evaluate("""(selector) => {
        const box = document.querySelector(selector).getBoundingClientRect();
        return box.top >= 0 && box.bottom <= innerHeight && box.height > 0;
    }""", selector))


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_every_widget_view_passes_axe_and_keeps_the_composer_in_sight(
    make_config: Callable[..., Config], tmp_path: Path, viewport: str
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        # Anna signs in (her console makes the team's records key) but is not on duty yet.
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        anna = await (await browser.new_context()).new_page()
        await login(anna, h.url, "akeller", totp_of(uri).now())
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()
        size = VIEWPORTS[viewport]
        visitor_ctx = await browser.new_context(viewport=size)  # type: ignore[arg-type]
        await visitor_ctx.grant_permissions(["clipboard-read", "clipboard-write"],
                                            origin=h.url)
        visitor = await visitor_ctx.new_page()
        await visitor.goto(h.url + "/widget/frame")

        # Nobody on duty: the welcome offers a message; one left shows its code.
        await visitor.locator("#offline").wait_for()
        await clean(visitor, "offline welcome")
        await visitor.get_by_label(re.compile("anonyme Nachricht")).fill("Hallo, ich melde mich.")
        await visitor.get_by_role("button", name="Nachricht hinterlassen").click()
        await visitor.locator("#drop-codename").get_by_text(re.compile(r"\d")).wait_for()
        await clean(visitor, "message left")
        code = (await visitor.locator("#drop-codename").text_content() or "").strip()
        await visitor.locator("#offline").get_by_role("button", name="Code kopieren").click()
        assert await visitor.evaluate("navigator.clipboard.readText()") == code
        await expect(visitor.locator("#drop-copied")).to_have_text("Kopiert.")

        await anna.get_by_role("button", name="Dienst beginnen").click()
        await anna.get_by_text("Im Dienst").wait_for()
        await visitor.reload()
        await visitor.get_by_role("button", name="Chat beginnen").wait_for()
        await expect(visitor.get_by_role("button", name="Chat beginnen")).to_be_enabled()
        await clean(visitor, "welcome")
        await visitor.locator("#sos").click()
        await clean(visitor, "emergency panel")
        await visitor.locator("#sos").click()
        await visitor.locator("#v-welcome .guide-open").click()
        await visitor.locator("#guide-body h3").first.wait_for()
        await clean(visitor, "guide")
        await visitor.locator("#guide-close").click()
        await visitor.get_by_text("Ich habe ein Codewort").click()
        await visitor.get_by_label("Codewort").fill("irgendein wort")
        await visitor.locator("#withdraw").click()
        await visitor.locator("#withdraw-confirm").wait_for()
        await clean(visitor, "withdrawal question")
        await visitor.locator("#withdraw-no").click()
        await visitor.get_by_text("Ich habe ein Codewort").click()

        await visitor.get_by_role("button", name="Chat beginnen").click()
        await visitor.get_by_text("Du bist auf Platz 1").wait_for()
        await clean(visitor, "waiting")
        await anna.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        for n in range(12):
            await visitor.get_by_label("Nachricht", exact=True).fill(f"Zeile {n}")
            await visitor.get_by_role("button", name="Senden").click()
            await anna.get_by_text(f"Zeile {n}").wait_for()
        await anna.get_by_role("button", name="Einwilligung erfragen").click()
        await visitor.locator("#consent").wait_for()
        await clean(visitor, "chat with the consent question")
        # However long the chat, the newest line, the message field and the send button stay
        # in sight, the consent question too (the log scrolls, not the frame).
        for selector in ("#log li:last-child", "#text", "#send", "#consent-yes"):
            assert await in_sight(visitor, selector), selector
        await visitor.get_by_role("button", name="Ja, einverstanden").click()
        await anna.get_by_text("Einwilligung: ja").wait_for()
        await anna.get_by_role("button", name="Akte anlegen").click()
        await visitor.locator("#codename-value").get_by_text(re.compile(r"\w+ \w+")).wait_for()
        await clean(visitor, "chat with the codename")
        for selector in ("#text", "#send", "#codename-value"):
            assert await in_sight(visitor, selector), selector
        codename = (await visitor.locator("#codename-value").text_content() or "").strip()
        box = visitor.locator("#codename-box")
        await box.get_by_role("button", name="Codewort kopieren").click()
        assert await visitor.evaluate("navigator.clipboard.readText()") == codename
        await expect(box).to_contain_text("Kopiert.")

        await visitor.get_by_role("button", name="Chat beenden", exact=True).click()
        await visitor.get_by_role("heading", name="Der Chat ist beendet").wait_for()
        await clean(visitor, "end")
