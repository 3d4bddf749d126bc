"""Keyboard only, with the console's shortcuts: "?" shows them, "a" accepts the first request,
"n" moves to the next open chat, "c" goes to the message field, Ctrl+Enter sends, Alt+E ends
(asking first); letters typed into a field stay text and trigger nothing; the views are a
tablist the arrow keys walk through."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from chatserver.config import Config
from chatserver.web.appkeys import RELAY
from tests.support.browser import chat_tabs, chromium, on_duty_console, widget_server
from tests.support.e2e_clients import Pki

pytestmark = pytest.mark.browser


async def visitor_asks(browser_page: Page, url: str) -> Page:
    await browser_page.goto(url + "/widget/frame")
    await browser_page.get_by_role("button", name="Chat beginnen").click()
    await browser_page.get_by_text(re.compile("Du bist auf Platz")).wait_for()
    return browser_page


async def test_accept_switch_send_and_end_by_shortcuts(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        console = await (await browser.new_context()).new_page()
        await on_duty_console(h, console)
        keys = console.keyboard
        # Nothing in a field has the focus once on duty: the page itself.
        await console.evaluate("document.activeElement.blur()")

        # The shortcuts are documented in the console: "?" opens the list, Escape closes it.
        await keys.press("?")
        help_ = console.get_by_role("dialog", name="Tastenkürzel")
        await expect(help_).to_be_visible()
        await expect(help_).to_contain_text("Erste Anfrage der Warteschlange annehmen")
        await keys.press("Escape")
        await expect(help_).to_be_hidden()

        first = await visitor_asks(await (await browser.new_context()).new_page(), h.url)
        await expect(console.locator("#queue li")).to_have_count(1)
        await keys.press("a")
        await first.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        tabs = chat_tabs(console)
        await expect(tabs).to_have_count(1)

        # In the message field letters are text: "a" accepts nothing while someone types.
        second = await visitor_asks(await (await browser.new_context()).new_page(), h.url)
        await expect(console.locator("#queue li")).to_have_count(1)
        await keys.press("c")
        composer = console.get_by_label("Nachricht", exact=True)
        await expect(composer).to_be_focused()
        await keys.type("Hallo, ich bin Anna. Was kann ich für dich tun?")
        await expect(composer).to_have_value("Hallo, ich bin Anna. Was kann ich für dich tun?")
        await keys.press("Control+Enter")
        await first.get_by_text("Hallo, ich bin Anna. Was kann ich für dich tun?").wait_for()
        await expect(composer).to_have_value("")
        await expect(composer).to_be_focused()
        # The "a"s typed (a round trip ago) accepted nothing.
        await expect(console.locator("#queue li")).to_have_count(1)
        await expect(tabs).to_have_count(1)

        # With a modifier a shortcut works from the field too: Alt+A accepts, Alt+Down is the
        # next chat.
        await keys.press("Alt+a")
        await second.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await expect(tabs.nth(1)).to_have_attribute("aria-selected", "true")
        await keys.press("c")
        await expect(composer).to_be_focused()
        await keys.press("Alt+ArrowDown")
        await expect(tabs.nth(0)).to_have_attribute("aria-selected", "true")
        await expect(tabs.nth(0)).to_be_focused()
        await keys.press("n")
        await expect(tabs.nth(1)).to_have_attribute("aria-selected", "true")
        # On the chats' tabs the arrow keys move between the chats.
        await keys.press("ArrowUp")
        await expect(tabs.nth(0)).to_have_attribute("aria-selected", "true")
        await expect(tabs.nth(0)).to_be_focused()
        await keys.press("c")
        await keys.type("Noch da?")
        await keys.press("Control+Enter")
        await first.get_by_text("Noch da?").wait_for()
        assert not await second.get_by_text("Noch da?").is_visible()

        # The views are a tablist: Right and Left walk it, each tab shows its own panel.
        views = console.get_by_role("tablist", name="Ansichten").get_by_role("tab")
        await expect(views).to_have_count(4)
        await views.nth(0).focus()
        await keys.press("ArrowRight")
        await expect(views.nth(1)).to_be_focused()
        await expect(console.get_by_role("tabpanel", name=re.compile("^Fallakten"))).to_be_visible()
        await expect(console.locator("#view-chats")).to_be_hidden()
        await keys.press("End")
        await expect(console.get_by_role("tabpanel", name=re.compile("^Textbausteine"))
                     ).to_be_visible()
        await keys.press("ArrowRight")
        await expect(views.nth(0)).to_be_focused()
        await expect(console.locator("#view-chats")).to_be_visible()

        # Alt+E ends the open chat, asking first with the focus on Cancel; Tab, Enter confirms.
        await keys.press("c")
        await keys.press("Alt+e")
        dialog = console.get_by_role("dialog", name="Chat beenden?")
        await expect(dialog).to_be_visible()
        await expect(console.get_by_role("button", name="Abbrechen")).to_be_focused()
        await keys.press("Tab")
        await expect(console.get_by_role("button", name="Ja, Chat beenden")
                     ).to_be_focused()
        await keys.press("Enter")
        await first.get_by_role("heading", name="Der Chat ist beendet").wait_for()
        await expect(tabs).to_have_count(1)
        assert (await h.app[RELAY].counts())["active"] == 1
        await expect(second.get_by_role("heading", name="Der Chat ist beendet")).to_have_count(0)
