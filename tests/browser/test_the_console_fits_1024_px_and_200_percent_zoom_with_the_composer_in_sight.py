"""The workspace on a smaller screen and enlarged: at 1024 px wide and at 200 % zoom of a
1280×800 screen (a 640×400 CSS-pixel window) the page never scrolls sideways, the message field
and the send button are in sight with the conversation, and the context panel (consent,
transfer, end) is reachable and usable."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from chatserver.config import Config
from tests.support.browser import chat_tabs, chromium, on_duty_console, widget_server
from tests.support.e2e_clients import Pki

pytestmark = pytest.mark.browser


async def in_window(page: Page, selector: str) -> bool:
    """Whether all of ``selector`` is inside the window (as scrolled now)."""
    return bool(await page.locator(selector).evaluate(
        """(el) => { const r = el.getBoundingClientRect();
             return r.width > 0 && r.top >= 0 && r.left >= 0
               && r.bottom <= window.innerHeight && r.right <= window.innerWidth; }"""))


async def no_sideways_scrolling(page: Page) -> bool:
    return bool(await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


@pytest.mark.parametrize(("width", "height", "scale"), [(1024, 768, 1), (640, 400, 2)],
                         ids=["1024px", "200%"])
async def test_workspace_fits_and_keeps_the_composer_in_sight(
    make_config: Callable[..., Config], tmp_path: Path, width: int, height: int, scale: int
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        context = await browser.new_context(viewport={"width": width, "height": height},
                                            device_scale_factor=scale)
        console = await context.new_page()
        await on_duty_console(h, console)
        assert await no_sideways_scrolling(console)

        visitors: list[Page] = []
        for _ in range(2):
            visitor = await (await browser.new_context()).new_page()
            await visitor.goto(h.url + "/widget/frame")
            await visitor.get_by_role("button", name="Chat beginnen").click()
            await console.get_by_role("button", name="Annehmen").click()
            await visitor.locator("#peer").get_by_text(
                re.compile("Du schreibst mit Anna")).wait_for()
            visitors.append(visitor)
        for n in range(12):
            await visitors[1].get_by_label("Nachricht", exact=True).fill(f"Zeile {n} " * 12)
            await visitors[1].get_by_role("button", name="Senden").click()
        await console.locator("#log li.them", has_text="Zeile 11").wait_for()

        # Accepted and writing: the conversation, the field and the button together in sight.
        assert await no_sideways_scrolling(console)
        for part in ("#text", "#send"):
            assert await in_window(console, part), part
        assert await console.locator("#log").evaluate(
            "(log) => log.getBoundingClientRect().height >= 100")

        # Another chat by its tab: again the field and the button in sight.
        await chat_tabs(console).nth(0).click()
        for part in ("#text", "#send"):
            assert await in_window(console, part), part
        await console.get_by_label("Nachricht", exact=True).fill("Bin gleich wieder da.")
        await console.get_by_role("button", name="Senden").click()
        await visitors[0].get_by_text("Bin gleich wieder da.").wait_for()

        # The context panel is reachable and works: consent asked from it, the answer shown.
        ask = console.locator("#context").get_by_role(
            "button", name="Einwilligung erfragen")
        await ask.scroll_into_view_if_needed()
        assert await in_window(console, "#consent")
        await ask.click()
        await visitors[0].get_by_role("button", name="Ja, einverstanden").click()
        await expect(console.locator("#context-consent")).to_have_text(
            re.compile("^erteilt"))
        for part in ("#transfer", "#end"):
            await console.locator(part).scroll_into_view_if_needed()
            assert await in_window(console, part), part
        assert await no_sideways_scrolling(console)

        # The other views fit too.
        for view in ("Fallakten", "Anonyme Nachrichten", "Textbausteine"):
            await console.get_by_role("tab", name=re.compile("^" + view)).click()
            await expect(console.get_by_role("tabpanel", name=re.compile("^" + view))
                         ).to_be_visible()
            assert await no_sideways_scrolling(console), view
