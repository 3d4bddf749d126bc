"""A second tab, as people open them: a copied widget tab (the browser copies sessionStorage,
resume token and kept chat included) and a second console tab. Neither runs the same chat with
the same keys a second time: the copy says the chat is open elsewhere and forgets its copy; the
second console waits, and takes over only when asked, after which the first one rests."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page

from chatserver.config import Config
from tests.support.browser import chromium, on_duty_console, widget_server
from tests.support.e2e_clients import E2ECounsellor, Pki

pytestmark = pytest.mark.browser

REMEMBER = "Nach Neuladen der Seite fortsetzen (bis der Chat endet)"
COPY_STORAGE = """(items) => {
  for (const [k, v] of Object.entries(items)) sessionStorage.setItem(k, v);
}"""


async def visitor_types(page: Page, text: str) -> None:
    await page.get_by_label("Nachricht", exact=True).fill(text)
    await page.keyboard.press("Enter")


async def test_a_copied_widget_tab_does_not_run_the_chat_twice(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki) as h, chromium() as browser:
        anna = E2ECounsellor(await h.counsellor("anna", "Anna"), pki.identity("Anna"))
        context = await browser.new_context()
        first = await context.new_page()
        await first.goto(h.url + "/widget/frame")
        await first.get_by_label(REMEMBER).check()
        await first.get_by_role("button", name="Chat beginnen").click()
        await first.get_by_text("Du bist auf Platz 1").wait_for()
        chat_id = (await anna.raw.sync())["queue"][0]["chat_id"]
        await anna.accept(chat_id)
        await first.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await visitor_types(first, "Erste Zeile")
        assert await anna.receive_text(chat_id) == "Erste Zeile"

        # "Duplicate tab": the same origin, sessionStorage copied into the new tab.
        kept = await first.evaluate("Object.fromEntries(Object.entries(sessionStorage))")
        assert "erstkontakt" in kept
        copy = await context.new_page()
        await copy.goto(h.url + "/widget/frame")
        await copy.evaluate(COPY_STORAGE, kept)
        await copy.reload()
        await copy.get_by_text("Dieser Chat ist schon in einem anderen Fenster offen.").wait_for()
        assert await copy.locator("#v-welcome").is_visible()
        assert await copy.locator("#log li").count() == 0
        assert await copy.evaluate("sessionStorage.length") == 0

        # The first tab goes on as before, both ways, with its session.
        await visitor_types(first, "Zweite Zeile")
        assert await anna.receive_text(chat_id) == "Zweite Zeile"
        await anna.send_text(chat_id, "Antwort")
        await first.locator("#log li.them", has_text="Antwort").wait_for()
        await first.locator("#log li.me", has_text="Zweite Zeile").locator(
            "small", has_text="zugestellt").wait_for()

        # Closed, the first tab frees the chat: a reload of the copy would now take it, but
        # the copy forgot the token, so it stays a fresh widget.
        await first.close()
        await copy.reload()
        await copy.get_by_role("button", name="Chat beginnen").wait_for()
        assert await copy.locator("#elsewhere").is_hidden()


async def test_a_second_console_tab_waits_and_takes_over_only_when_asked(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, demo=True) as h, \
            chromium() as browser:
        context = await browser.new_context()
        first = await on_duty_console(h, await context.new_page())

        second = await context.new_page()
        await second.goto(h.url + "/console/")
        await second.get_by_text("schon in einem anderen Tab").wait_for()
        assert await second.locator("#console").get_attribute("inert") is not None
        # The second tab opened no socket: the first one still serves the queue.
        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await first.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await visitor_types(visitor, "Hallo aus dem Widget")
        await first.locator("#log li.them", has_text="Hallo aus dem Widget").wait_for()

        # Asked to, the second tab takes over; the first rests and sends nothing more.
        await second.get_by_role("button", name="Hier weiterarbeiten").click()
        await first.get_by_text("in einem anderen Tab oder Fenster übernommen").wait_for()
        await second.get_by_text("Im Dienst").or_(
            second.get_by_role("button", name="Dienst beenden")).first.wait_for()
        await second.locator("#log li.them", has_text="Hallo aus dem Widget").wait_for()
        await visitor_types(visitor, "Noch da?")
        await second.locator("#log li.them", has_text="Noch da?").wait_for()
        await second.get_by_label("Nachricht", exact=True).fill("Ja, hier")
        await second.get_by_role("button", name="Senden").click()
        await visitor.locator("#log li.them", has_text="Ja, hier").wait_for()
        assert await first.locator("#log li.them", has_text="Noch da?").count() == 0
