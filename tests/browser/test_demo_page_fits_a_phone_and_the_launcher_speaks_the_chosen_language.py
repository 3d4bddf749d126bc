"""The demo host page on a phone (390×844, Chromium): nothing wider than the screen, the
launcher in sight, the opened frame inside the screen, axe content with the page; the launcher
speaks the language the visitor chose inside the frame ("Close chat" once English is picked,
"Anonymous chat" when closed) and back; the frame may write to the clipboard, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import expect

from chatserver.config import Config
from tests.support.browser import chromium, violations_under_csp, widget_server
from tests.support.e2e_clients import Pki

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
INSIDE = """(el) => { const b = el.getBoundingClientRect();
  return b.left >= 0 && b.top >= 0 && b.right <= innerWidth && b.bottom <= innerHeight; }"""


async def test_demo_page_fits_a_phone_and_the_launcher_speaks_the_chosen_language(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki()) as h, chromium() as browser:
        page = await (await browser.new_context(viewport=PHONE)).new_page()  # type: ignore[arg-type]
        await page.goto(h.url + "/demo")
        launcher = page.get_by_role("button", name="Anonym chatten")
        await launcher.wait_for()
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert await launcher.evaluate(INSIDE)
        assert await violations_under_csp(page) == []

        await launcher.click()
        frame = page.locator("iframe")
        await expect(frame).to_be_visible()
        assert await frame.evaluate(INSIDE)
        assert await frame.get_attribute("allow") == "clipboard-write"
        close = page.get_by_role("button", name="Chat schließen")
        await expect(close).to_be_visible()
        chat = page.frame_locator("iframe")
        await chat.get_by_role("button", name="Chat beginnen").wait_for()
        await chat.locator("#lang").select_option("en")
        await expect(page.get_by_role("button", name="Close chat")).to_be_visible()
        await expect(frame).to_have_attribute("title", "Anonymous chat")
        await page.get_by_role("button", name="Close chat").click()
        await expect(page.get_by_role("button", name="Anonymous chat")).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
