"""Quick exit by keyboard happens on purpose only, on desktop and at 390×844: German sentences
(a capital in every noun) typed at 60–200 ms a key, with Shift held in each way fast typists
hold it and with auto-repeat, never exit, in the widget or on the host page; three taps of
Shift alone do, and the widget says so next to its exit button."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import FrameLocator, Locator, Page, expect

from chatserver.config import Config
from tests.support.browser import chromium, widget_server
from tests.support.e2e_clients import E2ECounsellor, Pki
from tests.support.typist import STYLES, Style, Typist

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SENTENCES = [
    "Mein Bruder Tom hat Angst vor der Gruppe.",
    "Ich Weiß Nicht Was Ich Tun Soll.",
    "Bleibt das anonym? Über die Szene sage ich nichts!",
    "Äußerlich Ändert Sich Nichts.",
]
HINT = "Oder dreimal kurz nur ⇧ Umschalt drücken: Der Chat wird gelöscht."


def exit_button(chat: FrameLocator) -> Locator:
    return chat.get_by_role("button", name="Schnell verlassen")


async def open_widget(page: Page, url: str) -> None:
    await page.goto(url + "/demo")
    await page.get_by_role("button", name="Anonym chatten").click()
    chat = page.frame_locator("iframe")
    # The widget says how the shortcut works, beside the button, and the button points to it.
    await expect(chat.get_by_text(HINT)).to_be_visible()
    await expect(exit_button(chat)).to_have_accessible_description(re.compile(re.escape(HINT)))


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_german_typing_in_the_widget_never_exits_three_lone_shift_taps_do(
    make_config: Callable[..., Config], tmp_path: Path, viewport: str
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki) as h, chromium() as browser:
        counsellor = E2ECounsellor(await h.counsellor("anna", "Anna"), pki.identity("Anna"))
        context = await browser.new_context(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
        page = await context.new_page()
        await open_widget(page, h.url)
        chat = page.frame_locator("iframe")
        await chat.get_by_role("button", name="Chat beginnen").click()
        await chat.get_by_text("Du bist auf Platz 1").wait_for()
        chat_id = (await counsellor.raw.sync())["queue"][0]["chat_id"]
        await counsellor.accept(chat_id)
        await chat.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()

        composer = chat.get_by_label("Nachricht", exact=True)
        await composer.click()
        typist = await Typist.at(page, seed=17)
        # On desktop each sentence with every capital typed one way, then all ways mixed; on
        # the phone (the same key handling, a different layout) two sentences, ways mixed.
        typed: list[tuple[str, Style | None]] = [(SENTENCES[0], None), (SENTENCES[1], None)]
        if viewport == "desktop":
            typed = list(zip(SENTENCES, [*STYLES, None], strict=True))
        for sentence, style in typed:
            await typist.type(sentence, style)
            await expect(composer).to_have_value(sentence)
            await page.keyboard.press("Enter")
            assert await counsellor.receive_text(chat_id) == sentence
        # The chat has grown past the frame's height; the exit button stays in view.
        await expect(exit_button(chat)).to_be_in_viewport()

        # Shift held alone for a second (auto-repeat) is no tap; two taps, another key, and
        # one more tap are not three; three taps spread over more than the window are not
        # either. Every key in between reaches the composer.
        await typist.hold_shift(repeats=30)
        await typist.type("Ja")
        await typist.tap_shift(2)
        await typist.type(", ")
        await typist.tap_shift(1)
        await typist.type("langsam")
        for pause in (0, 0.8, 0.8):  # 1.6 s from first to last: longer than the 1.5 s window
            await asyncio.sleep(pause)
            await typist.tap_shift(1)
        await typist.type(".")
        await expect(composer).to_have_value("Ja, langsam.")
        await page.keyboard.press("Enter")
        # Arriving proves the widget never ran its exit: that closes the socket first.
        assert await counsellor.receive_text(chat_id) == "Ja, langsam."
        assert page.url == h.url + "/demo"

        # On purpose: three taps of Shift alone.
        await typist.tap_shift(3)
        await page.wait_for_url(h.url + "/healthz")
        assert await page.evaluate("sessionStorage.length + localStorage.length") == 0
        assert await counsellor.raw.expect("presence") == {"chat_id": chat_id, "present": False}
        await context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_german_typing_on_the_host_page_never_exits_three_lone_shift_taps_do(
    make_config: Callable[..., Config], tmp_path: Path, viewport: str
) -> None:
    async with widget_server(make_config, tmp_path, Pki()) as h, chromium() as browser:
        await h.counsellor("anna", "Anna")  # on duty, so the widget offers a chat
        context = await browser.new_context(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
        page = await context.new_page()
        await open_widget(page, h.url)
        chat = page.frame_locator("iframe")
        # Keys on the host page (say, its search field) go to embed.js's listener.
        heading = page.get_by_role("heading", level=1)
        await heading.click()
        typist = await Typist.at(page, seed=71)
        await typist.type(SENTENCES[1])
        await typist.hold_shift(repeats=30)
        # The frame is still there and working: a chat request makes the round trip.
        await chat.get_by_role("button", name="Chat beginnen").click()
        await chat.get_by_text("Du bist auf Platz 1").wait_for()
        assert page.url == h.url + "/demo"

        await heading.click()
        await typist.tap_shift(3)
        await page.wait_for_url(h.url + "/healthz")
        await context.close()
