"""The host page warms the widget while it idles (embed.js): the frame is made hidden, out of
the keyboard's and the screen reader's reach, asks once whether anyone is on duty and then
stays quiet; three taps of Shift on the host page do nothing while it is hidden. The launcher
shows it, focus moves in, availability is asked again and its rounds begin; quick exit from
the warmed frame leaves the host page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, Request, expect

from chatserver.config import Config
from tests.support.browser import chromium, widget_server
from tests.support.e2e_clients import Pki
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser


async def warmed(page: Page) -> None:
    """Wait until the hidden frame's widget has initialised."""
    await page.wait_for_function(
        "() => { const f = document.querySelector('iframe');"
        " return !!(f && f.contentDocument && f.contentDocument.body"
        " && f.contentDocument.body.dataset.ready); }")


async def test_warmed_frame_is_hidden_unfocusable_and_quiet_until_the_launcher_shows_it(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki()) as h, chromium() as browser:
        await h.counsellor("anna", "Anna")  # on duty, so the widget offers a chat
        context = await browser.new_context()
        page = await context.new_page()
        asked: list[str] = []

        def note(request: Request) -> None:
            if request.url.endswith("/api/availability"):
                asked.append(request.url)

        page.on("request", note)
        await page.clock.install()
        await page.goto(h.url + "/demo")
        await page.clock.run_for(5000)  # the idle callback's deadline, at the latest
        await warmed(page)
        frame = page.locator("iframe")
        assert "warm=1" in (await frame.get_attribute("src") or "")
        await expect(frame).to_be_hidden()
        assert await frame.evaluate("f => f.inert && getComputedStyle(f).visibility") == "hidden"
        # Keyboard only: Tab goes round the host page and never into the frame.
        for _ in range(6):
            await page.keyboard.press("Tab")
            assert await page.evaluate("document.activeElement.tagName") != "IFRAME"
            assert not await page.evaluate(
                "document.querySelector('iframe').contentDocument.hasFocus()")
        # Not in the accessibility tree: nothing of the frame's texts is there.
        tree = await page.locator("body").aria_snapshot()
        assert "Chat beginnen" not in tree and "Schnell verlassen" not in tree, tree
        # Three taps of Shift on the host page: the hidden chat is not the visitor's yet.
        await page.get_by_role("heading", level=1).click()
        for _ in range(3):
            await page.keyboard.press("Shift")
        # One question while warming, and no rounds while hidden (they come every 20-25 s).
        await page.clock.run_for(90_000)
        assert len(asked) == 1, asked
        assert page.url == h.url + "/demo"

        await page.get_by_role("button", name="Anonym chatten").click()
        chat = page.frame_locator("iframe")
        await expect(frame).to_be_visible()
        assert await frame.evaluate("f => f.inert") is False
        assert await page.evaluate("document.activeElement.tagName") == "IFRAME"
        await expect(chat.get_by_role("button", name="Chat beginnen")).to_be_enabled()
        # Shown: asked again at once (what the warm frame learnt may be old), then in rounds.
        await eventually(lambda: len(asked) == 2)
        await page.clock.run_for(30_000)
        await eventually(lambda: len(asked) == 3)
        await context.close()


async def test_quick_exit_from_the_warmed_frame_leaves_the_host_page(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki()) as h, chromium() as browser:
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        page = await context.new_page()
        await page.goto(h.url + "/demo")
        await warmed(page)
        await page.get_by_role("button", name="Anonym chatten").click()
        await page.frame_locator("iframe").get_by_role("button", name="Schnell verlassen").click()
        await page.wait_for_url(h.url + "/healthz")
        await context.close()


async def test_three_shift_taps_on_the_host_page_leave_once_the_warmed_frame_is_shown(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki()) as h, chromium() as browser:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(h.url + "/demo")
        await warmed(page)
        await page.get_by_role("button", name="Anonym chatten").click()
        await expect(page.locator("iframe")).to_be_visible()
        await page.get_by_role("heading", level=1).click()
        for _ in range(3):
            await page.keyboard.press("Shift")
        await page.wait_for_url(h.url + "/healthz")
        await context.close()
