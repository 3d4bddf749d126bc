"""Records authorisation in the browser: a counsellor whose console holds no grant presses
"Load records" (with the keyboard) and reads why nothing is shown, not an empty list; once a
colleague grants the key the record opens, but only its owner deletes it, and restores it from
the deleted records."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import nacl.secret
import pytest
from playwright.async_api import Page

from chatserver import crypto
from chatserver.config import Config
from chatserver.web.appkeys import RECORDS, USERS
from tests.support.browser import PASSWORD, chromium, login, show_view, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of

pytestmark = pytest.mark.browser

LINE = "KANARIE-akte-ohne-freigabe-4711"
UNLOCKED = "Aktenschlüssel entsperrt"
NO_GRANT = re.compile("Kein Zugriff auf Fallakten: Der Aktenschlüssel wurde Ihnen noch nicht "
                      "freigegeben")


async def confirm(page: Page, name: str) -> None:
    """Answer the open confirmation from the keyboard: Tab from "Cancel" to ``name``, Enter."""
    assert await page.evaluate("document.activeElement.id") == "confirm-no"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == name
    await page.keyboard.press("Enter")


async def press(page: Page, name: str) -> None:
    """A button pressed from the keyboard: focused, then Enter."""
    await page.get_by_role("button", name=name).focus()
    await page.keyboard.press("Enter")


async def test_no_grant_is_explained_in_the_records_view_and_only_the_owner_deletes(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    # Demo mode certifies the consoles' identity keys and the team's records key at once, as an
    # administrator would offline: a grant needs both (docs/protocol.md, "Keys bound to
    # identities").
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna_uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        ben_uri = await h.app[USERS].add("bschmidt", "counsellor", PASSWORD, pseudonym="Ben")

        # Anna's console is the first: it makes the team's records key.
        anna = await (await browser.new_context()).new_page()
        await login(anna, h.url, "akeller", totp_of(anna_uri).now())
        await anna.get_by_text(UNLOCKED).wait_for()
        anna_account = await h.app[USERS].find("akeller")
        assert anna_account is not None
        # A record Anna filed, sealed to the team's key as a hand-off seals it.
        team_pk = crypto.b64decode(await h.app[RECORDS].keyring.records_public_key())
        key = os.urandom(32)
        body = nacl.secret.SecretBox(key).encrypt(json.dumps(
            {"consent_version": "v2", "entry": "exit", "transcript": [["them", LINE]]}).encode())
        await h.app[RECORDS].create(anna_account.id, "v1",
                                    crypto.b64encode(crypto.seal(team_pk, key)),
                                    crypto.b64encode(bytes(body)), time.time())

        # Ben has no grant yet: the records view says so, in words, and lists nothing.
        ben = await (await browser.new_context()).new_page()
        await login(ben, h.url, "bschmidt", totp_of(ben_uri).now())
        await ben.get_by_text(re.compile("Warte auf Freigabe")).wait_for()
        await show_view(ben, "Fallakten")
        await press(ben, "Akten laden")
        await ben.locator("#records-status").get_by_text(NO_GRANT).wait_for()
        assert await ben.locator("#records li").count() == 0
        await show_view(ben, "Fallakten")
        await press(ben, "Gelöschte Akten")
        await ben.locator("#records-status").get_by_text(NO_GRANT).wait_for()
        assert await ben.locator("#records-deleted li").count() == 0
        assert LINE not in await ben.content()

        # Anna grants him the key; now the same button lists and opens the record.
        await show_view(anna, "Fallakten")
        await press(anna, "Akten laden")
        await anna.get_by_role("button", name="Freigeben").click()
        await anna.get_by_role("button", name="Freigeben").wait_for(state="detached")
        await show_view(ben, "Fallakten")
        await press(ben, "Akten laden")
        await ben.get_by_text(UNLOCKED).wait_for()
        await ben.get_by_role("button", name="Öffnen", exact=True).click()
        await ben.locator("#record-view").get_by_text(re.compile(LINE)).wait_for()
        assert await ben.locator("#records-status").text_content() == ""

        # It is not his to delete: asked first, then told why (in German too), and it stays.
        await press(ben, "Akte löschen")
        await confirm(ben, "Ja, Akte löschen")
        await ben.locator("#records-status").get_by_text(re.compile(
            "Nur wer die Akte angelegt hat, oder die Administration, darf das")).wait_for()
        assert await ben.locator("#record-view").is_visible()

        # Anna, who filed it, deletes it and brings it back from the deleted records.
        await anna.locator("#records").get_by_text(re.compile("meine")).wait_for()
        await anna.get_by_role("button", name="Öffnen", exact=True).click()
        await anna.locator("#record-view").get_by_text(re.compile(LINE)).wait_for()
        # The question comes first, with the focus on "Cancel": Enter there keeps the record.
        await press(anna, "Akte löschen")
        dialog = anna.get_by_role("dialog", name="Akte löschen?")
        await dialog.wait_for()
        assert await anna.evaluate("document.activeElement.id") == "confirm-no"
        await anna.keyboard.press("Enter")
        await dialog.wait_for(state="hidden")
        assert await anna.locator("#record-view").is_visible()
        assert await anna.locator("#records li").count() == 1
        await press(anna, "Akte löschen")
        await confirm(anna, "Ja, Akte löschen")
        await anna.locator("#records-status").get_by_text(
            re.compile("Akte gelöscht, wiederherstellbar bis")).wait_for()
        assert await anna.locator("#records li").count() == 0
        await show_view(ben, "Fallakten")
        await press(ben, "Akten laden")
        await ben.locator("#records").get_by_role("button").first.wait_for(state="detached")
        await show_view(anna, "Fallakten")
        await press(anna, "Gelöschte Akten")
        await press(anna, "Wiederherstellen")
        await anna.locator("#records-status").get_by_text(
            "Akte wiederhergestellt").wait_for()
        await anna.get_by_role("button", name="Öffnen", exact=True).wait_for()
        await show_view(ben, "Fallakten")
        await press(ben, "Akten laden")
        await ben.get_by_role("button", name="Öffnen", exact=True).wait_for()
