"""A counsellor's shift with three chats at once, at 1280×800: duty, queue and the open chats in
a sidebar, the conversation beside it and what is known about the chat to its right; lines in
the chats in the background show as badges on their tabs and as a count in the page title;
a returning request, the consent and the safety number (with how to compare it) are in the
context panel."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, ViewportSize, expect

from chatserver.config import Config
from tests.support.browser import chat_tabs, chromium, on_duty_console, widget_server
from tests.support.e2e_clients import Pki

pytestmark = pytest.mark.browser

TITLE = "Erstkontakt – Beratungskonsole"
SIZE: ViewportSize = {"width": 1280, "height": 800}


async def say(visitor: Page, text: str) -> None:
    await visitor.get_by_label("Nachricht", exact=True).fill(text)
    await visitor.get_by_role("button", name="Senden").click()


async def box(page: Page, selector: str) -> dict[str, float]:
    found = await page.locator(selector).bounding_box()
    assert found is not None, selector
    return found


async def test_three_chats_side_by_side_with_badges_and_the_title_count(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        console = await (await browser.new_context(viewport=SIZE)).new_page()
        await on_duty_console(h, console)
        await expect(console.get_by_role("tab", name=re.compile("^Chats"))).to_have_attribute(
            "aria-selected", "true")
        await expect(console.locator("#no-chat")).to_be_visible()

        visitors: list[Page] = []
        for entry in (None, "Angehörige oder Freundeskreis", "Fachkraft (z. B. Bewährungshilfe)"):
            visitor = await (await browser.new_context()).new_page()
            await visitor.goto(h.url + "/widget/frame")
            if entry:
                await visitor.get_by_label(entry).check()
            await visitor.get_by_role("button", name="Chat beginnen").click()
            await expect(console).to_have_title("(1) " + TITLE)
            await console.locator("#queue").get_by_role(
                "button", name="Annehmen").click()
            await visitor.locator("#peer").get_by_text(
                re.compile("Du schreibst mit Anna")).wait_for()
            visitors.append(visitor)
        tabs = chat_tabs(console)
        await expect(tabs).to_have_count(3)
        await expect(tabs.nth(2)).to_have_attribute("aria-selected", "true")
        await expect(console).to_have_title(TITLE)
        await expect(console.get_by_role("tab", name=re.compile("^Chats"))).to_contain_text("3")

        # Sidebar, conversation and context panel side by side, all in the window.
        sidebar, pane = await box(console, "#sidebar"), await box(console, "#log")
        context, send = await box(console, "#context"), await box(console, "#send")
        assert sidebar["x"] + sidebar["width"] <= pane["x"]
        assert pane["x"] + pane["width"] <= context["x"]
        assert context["x"] + context["width"] <= SIZE["width"]
        assert send["y"] + send["height"] <= SIZE["height"]
        assert await console.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        await expect(console.locator("#context-entry")).to_have_text(
            "Fachkraft · Deutsch")
        await expect(console.locator("#context-consent")).to_have_text(
            "nicht erteilt")
        await expect(console.locator("#context-waited")).to_have_text(
            re.compile(r"^0:\d\d \(Anfrage \d\d:\d\d\)$"))
        await expect(console.locator("#safety")).to_contain_text(
            "Sicherheitsnummer")
        await expect(console.locator("#safety-how")).to_be_visible()

        # Lines in the two chats in the background: badges on their tabs, a count in the title.
        first, second, third = visitors
        await say(first, "Eins")
        await say(first, "Zwei")
        await say(second, "Hallo")
        await expect(tabs.nth(0).locator(".badge")).to_have_text("(2)")
        await expect(tabs.nth(0)).to_have_text(
            "Denkt über Ausstieg nach · Deutsch (2)")
        await expect(tabs.nth(1).locator(".badge")).to_have_text("(1)")
        await expect(tabs.nth(2).locator(".badge")).to_have_count(0)
        await expect(console).to_have_title("(3) " + TITLE)
        await expect(console.locator("#announce")).to_have_text(
            "Neue Nachricht in: Angehörige · Deutsch (1)")
        # A line in the open chat is read where it is; nothing counts it.
        await say(third, "Ich bin hier")
        await console.locator("#log li.them", has_text="Ich bin hier").wait_for()
        await expect(console).to_have_title("(3) " + TITLE)

        # Opening a chat reads it: its badge goes, the title counts what is left.
        await tabs.nth(0).click()
        await expect(tabs.nth(0).locator(".badge")).to_have_count(0)
        await expect(console).to_have_title("(1) " + TITLE)
        await expect(console.locator("#log li.them")).to_have_count(2)
        await expect(console.locator("#context-entry")).to_have_text(
            "Denkt über Ausstieg nach · Deutsch")

        # The consent, asked from the context panel, shows there once given.
        await console.locator("#context").get_by_role(
            "button", name="Einwilligung erfragen").click()
        await first.get_by_role("button", name="Ja, einverstanden").click()
        await expect(console.locator("#context-consent")).to_have_text(
            re.compile(r"^erteilt \(\d\d:\d\d\)$"))
        await tabs.nth(1).click()
        await expect(console).to_have_title(TITLE)
        await expect(console.locator("#context-consent")).to_have_text(
            "nicht erteilt")
