"""Ending a chat asks first, in an accessible dialog whose focus starts on "Cancel": a counsellor
still typing (Enter included) when it opens only cancels it; Escape cancels; only the
confirmation chosen on purpose ends the chat. All by keyboard."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import expect

from chatserver.config import Config
from chatserver.web.appkeys import RELAY, USERS
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

pytestmark = pytest.mark.browser


async def test_ending_a_chat_asks_first_and_only_a_deliberate_answer_ends_it(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        console = await (await browser.new_context()).new_page()
        await login(console, h.url, "akeller", totp_of(uri).now())
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()
        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        dialog = console.get_by_role("dialog", name="Chat beenden?")
        composer = console.get_by_label("Nachricht", exact=True)

        async def chats() -> int:
            return (await h.app[RELAY].counts())["active"]

        # Typing with Enter in the composer opens nothing and confirms nothing.
        await composer.focus()
        await console.keyboard.type("Erste Zeile")
        await console.keyboard.press("Enter")
        await console.keyboard.type("zweite Zeile")
        assert not await dialog.is_visible()
        assert await composer.input_value() == "Erste Zeile\nzweite Zeile"

        # The End button opens the question with the focus on "Cancel"; typing on as if still in
        # the composer, Enter included, only cancels it.
        await console.get_by_role("button", name="Chat beenden", exact=True).click()
        await dialog.wait_for()
        assert await console.evaluate("document.activeElement.id") == "confirm-no"
        assert await serious_violations_under_csp(console) == []
        await console.keyboard.type("noch ein Satz")
        await console.keyboard.press("Enter")
        await dialog.wait_for(state="hidden")
        assert await chats() == 1
        await expect(chat_tabs(console)).to_have_count(1)

        # Enter pressed twice on End (a held key): the second press lands on "Cancel".
        await console.locator("#end").focus()
        await console.keyboard.press("Enter")
        await dialog.wait_for()
        await console.keyboard.press("Enter")
        await dialog.wait_for(state="hidden")
        assert await chats() == 1

        # Escape cancels too.
        await console.locator("#end").focus()
        await console.keyboard.press("Enter")
        await dialog.wait_for()
        await console.keyboard.press("Escape")
        await dialog.wait_for(state="hidden")
        assert await chats() == 1
        assert not await visitor.get_by_role("heading", name="Der Chat ist beendet").count()

        # On purpose: Tab to the confirmation, Enter.
        await console.locator("#end").focus()
        await console.keyboard.press("Enter")
        await dialog.wait_for()
        await console.keyboard.press("Tab")
        assert await console.evaluate("document.activeElement.textContent") == (
            "Ja, Chat beenden")
        await console.keyboard.press("Enter")
        await visitor.get_by_role("heading", name="Der Chat ist beendet").wait_for()
        await expect(chat_tabs(console)).to_have_count(0)
        assert await chats() == 0
