"""A counsellor's first minutes with two chats: requests and tabs read as words (never the
internal codes), every line carries its local time, the log follows the newest line unless the
counsellor scrolled up, and the page title counts waiting requests and unread lines."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.browser import (
    PASSWORD,
    chat_tabs,
    chromium,
    login,
    serious_violations_under_csp,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

TITLE = "Erstkontakt – Beratungskonsole"
EXIT = "Denkt über Ausstieg nach · Deutsch"
RELATIVE = "Angehörige · Deutsch"


async def say(visitor: Page, text: str) -> None:
    await visitor.get_by_label("Nachricht", exact=True).fill(text)
    await visitor.get_by_role("button", name="Senden").click()


async def at_bottom(console: Page) -> bool:
    return bool(await console.eval_on_selector(
        "#log", "log => log.scrollHeight - log.scrollTop - log.clientHeight < 24"))


async def test_console_reads_like_a_workspace(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        console = await (await browser.new_context()).new_page()
        await login(console, h.url, "akeller", totp_of(uri).now())
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()
        await expect(console).to_have_title(TITLE)

        first = await (await browser.new_context()).new_page()
        await first.goto(h.url + "/widget/frame")
        await first.get_by_role("button", name="Chat beginnen").click()
        queue = console.locator("#queue li")
        await expect(queue).to_have_count(1)
        await expect(queue.first).to_contain_text(re.compile("^" + re.escape(EXIT) + " · wartet"))
        await expect(queue.first).not_to_contain_text(re.compile(r"\bexit\b|· de\b"))
        await expect(console).to_have_title("(1) " + TITLE)
        await queue.first.get_by_role("button", name="Annehmen").click()
        await first.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await expect(console).to_have_title(TITLE)

        second = await (await browser.new_context()).new_page()
        await second.goto(h.url + "/widget/frame")
        await second.get_by_label("Angehörige oder Freundeskreis").check()
        await second.get_by_role("button", name="Chat beginnen").click()
        await expect(queue.first).to_contain_text(re.compile("^" + re.escape(RELATIVE)))
        await queue.first.get_by_role("button", name="Annehmen").click()
        await second.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        tabs = chat_tabs(console)
        await expect(tabs).to_have_text([EXIT, RELATIVE])
        await expect(tabs.nth(1)).to_have_attribute("aria-selected", "true")

        # Two lines in the chat in the background: counted on its tab and in the title.
        await say(first, "Eins")
        await say(first, "Zwei")
        await expect(tabs.nth(0)).to_have_text(EXIT + " (2)")
        await expect(console).to_have_title("(2) " + TITLE)

        # Opened from the keyboard: read, so no longer counted; each line has its local time.
        await tabs.nth(0).focus()
        await console.keyboard.press("Enter")
        await expect(tabs.nth(0)).to_have_text(EXIT)
        await expect(console).to_have_title(TITLE)
        stamp = console.locator("#log li.them", has_text="Zwei").locator("time")
        shown = (await stamp.text_content() or "").strip()
        assert re.fullmatch(r"\d\d:\d\d", shown)
        now = time.time()
        assert shown in {datetime.fromtimestamp(now + d).strftime("%H:%M") for d in (-60, 0)}
        assert await console.locator("#log li.them time").count() == 2
        assert await serious_violations_under_csp(console) == []

        # A long chat: the log follows the newest line.
        for n in range(3, 19):
            await say(first, f"Zeile {n}")
        await console.locator("#log li.them", has_text="Zeile 18").wait_for()
        assert await console.eval_on_selector("#log", "log => log.scrollHeight > log.clientHeight")
        await eventually(lambda: at_bottom(console), what="the log at its newest line")

        # Scrolled up to read: a new line does not pull the log away.
        await console.locator("#log").hover()
        await console.mouse.wheel(0, -5000)
        await eventually(lambda: console.eval_on_selector("#log", "log => log.scrollTop"),
                         until=lambda top: top == 0, what="the log scrolled to the top")
        await say(first, "Während ich lese")
        await console.locator("#log li.them", has_text="Während ich lese").wait_for()
        assert await console.eval_on_selector("#log", "log => log.scrollTop") == 0

        # Back at the bottom, it follows again.
        await console.mouse.wheel(0, 10000)
        await eventually(lambda: at_bottom(console), what="the log scrolled to the bottom")
        await say(first, "Wieder unten")
        await console.locator("#log li.them", has_text="Wieder unten").wait_for()
        await eventually(lambda: at_bottom(console), what="the log following again")
