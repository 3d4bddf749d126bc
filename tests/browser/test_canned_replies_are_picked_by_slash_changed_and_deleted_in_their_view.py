"""Canned replies as a counsellor uses them: added, changed and deleted (after a question) in
their own view, the count following; in a chat, "/" in the empty message field goes to the
list, an arrow key puts a reply into the field, Enter goes back to it, and Ctrl+Enter sends
it to the visitor."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import expect

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.browser import chromium, on_duty_console, show_view, widget_server
from tests.support.e2e_clients import Pki

pytestmark = pytest.mark.browser


async def test_canned_replies_are_picked_by_slash_changed_and_deleted_in_their_view(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna = await on_duty_console(h, await (await browser.new_context()).new_page())
        await show_view(anna, "Textbausteine")
        view = anna.locator("#view-canned")
        for title, body in (("Begrüßung", "Hallo, schön, dass du schreibst."),
                            ("Zeit", "Lass dir Zeit.")):
            await anna.get_by_label("Titel").fill(title)
            await anna.get_by_label("Text", exact=True).fill(body)
            await anna.get_by_role("button", name="Anlegen", exact=True).click()
            await view.get_by_text(body).wait_for()
        await expect(anna.locator("#count-canned")).to_contain_text("2")

        # Changed: the form takes the reply, saving writes it back.
        await view.get_by_role("button", name="Bearbeiten: Zeit").click()
        await expect(anna.get_by_label("Titel")).to_have_value("Zeit")
        await anna.get_by_label("Text", exact=True).fill("Lass dir alle Zeit, die du brauchst.")
        await anna.get_by_role("button", name="Änderung speichern").click()
        await view.get_by_text("Lass dir alle Zeit, die du brauchst.").wait_for()
        await expect(view.get_by_text("Lass dir Zeit.", exact=True)).to_have_count(0)

        # Deleted, once confirmed; cancelled first, nothing goes.
        await view.get_by_role("button", name="Löschen: Begrüßung").click()
        await anna.get_by_role("button", name=re.compile("^Abbrechen|^Nein")).click()
        assert len(await h.app[USERS].canned()) == 2
        await view.get_by_role("button", name="Löschen: Begrüßung").click()
        await anna.get_by_role("button", name="Ja, löschen").click()
        await expect(view.get_by_text("Hallo, schön, dass du schreibst.")).to_have_count(0)
        await expect(anna.locator("#count-canned")).to_contain_text("1")
        assert [c["title"] for c in await h.app[USERS].canned()] == ["Zeit"]

        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await show_view(anna, "Chats")
        await anna.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()

        text = anna.get_by_label("Nachricht", exact=True)
        await text.focus()
        await anna.keyboard.press("/")
        assert await anna.evaluate("document.activeElement.id") == "canned"
        await expect(text).to_have_value("")
        await anna.keyboard.press("ArrowDown")
        await expect(text).to_have_value("Lass dir alle Zeit, die du brauchst.")
        await anna.keyboard.press("Enter")
        assert await anna.evaluate("document.activeElement.id") == "text"
        await anna.keyboard.press("Control+Enter")
        await visitor.get_by_text("Lass dir alle Zeit, die du brauchst.").wait_for()
        # A "/" after other text is just a slash.
        await text.fill("und")
        await text.press("/")
        await expect(text).to_have_value("und/")
        assert await anna.evaluate("document.activeElement.id") == "text"
