"""A refusal from the server reads as the console's own words, in German for a German-speaking
counsellor (English after switching: test_a_counsellor_switches_the_console_to_english_...),
never as the server's English message: accepting before going on duty, going off duty while a
chat is still open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import expect

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.browser import PASSWORD, chat_tabs, chromium, login, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of

pytestmark = pytest.mark.browser


async def test_refusals_are_translated(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        console = await (await browser.new_context()).new_page()
        await login(console, h.url, "akeller", totp_of(uri).now())
        await console.get_by_role("button", name="Dienst beginnen").wait_for()
        status = console.locator("#status")

        # The widget offers no chat while nobody is on duty; the socket still queues one.
        visitor = await h.visitor()
        assert (await visitor.request())["ok"]
        accept = console.get_by_role("button", name="Annehmen")
        await accept.focus()
        await console.keyboard.press("Enter")
        await expect(status).to_have_text(
            "Erst den Dienst beginnen, dann Chats annehmen")

        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()
        await accept.click()
        await expect(chat_tabs(console)).to_have_count(1)
        await console.get_by_role("button", name="Dienst beenden").click()
        await expect(status).to_have_text(
            "Erst alle Chats beenden oder übergeben, dann den Dienst beenden")
        text = await console.locator("#console").inner_text()
        assert "End or transfer your chats before going off duty." not in text
        assert "Go on duty before accepting chats." not in text
