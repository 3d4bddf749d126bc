"""A returning visitor's chat taken by a colleague who holds no grant of the records key: the
console still says that this is a returning visitor with a record, and when the counsellor
tries to open it or the visitor writes, it says why the record stays closed and that later
lines are not added, without trying (no refused appends in the audit trail)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Page

from chatserver.config import Config
from chatserver.records.schema import record_entries
from chatserver.web.appkeys import RECORDS, USERS
from tests.support.browser import chromium, on_duty_console, widget_server
from tests.support.e2e_clients import Pki

pytestmark = pytest.mark.browser

NO_GRANT = re.compile("Kein Zugriff auf Fallakten")


async def test_a_return_chat_taken_without_a_grant_names_the_record_and_says_why_it_is_closed(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna: Page = await (await browser.new_context()).new_page()
        await on_duty_console(h, anna)
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()

        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await anna.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await anna.get_by_role("button", name="Einwilligung erfragen").click()
        await visitor.get_by_role("button", name="Ja, einverstanden").click()
        await anna.get_by_text("Einwilligung: ja").wait_for()
        await anna.get_by_role("button", name="Akte anlegen").click()
        await anna.get_by_text("Akte gespeichert").wait_for()
        await visitor.locator("#codename-value").get_by_text(re.compile(r"\d")).wait_for()
        codename = (await visitor.locator("#codename-value").text_content() or "").strip()
        await visitor.get_by_role("button", name="Chat beenden", exact=True).click()
        await anna.locator("#chat").wait_for(state="hidden")
        # Anna goes off duty: her returning visitor is no longer reserved for her.
        await anna.get_by_role("button", name="Dienst beenden").click()
        await anna.get_by_text("Nicht im Dienst").wait_for()

        ben: Page = await (await browser.new_context()).new_page()
        await on_duty_console(h, ben, "bschmidt", "Ben")
        await ben.get_by_text(re.compile("Warte auf Freigabe")).wait_for()

        later = await (await browser.new_context()).new_page()
        await later.goto(h.url + "/widget/frame")
        await later.get_by_text("Ich habe ein Codewort").click()
        await later.get_by_label("Codewort").fill(codename)
        await later.get_by_role("button", name="Weiter").click()
        await ben.get_by_role("button", name="Annehmen").click()
        await later.locator("#peer").get_by_text(re.compile("Du schreibst mit Ben")).wait_for()
        await ben.locator("#chat-record").get_by_text(
            re.compile("Kommt mit Codewort zurück: Akte vorhanden")).wait_for()

        await ben.get_by_role("button", name="Akte öffnen").click()
        await ben.locator("#status").get_by_text(NO_GRANT).wait_for()
        assert await ben.locator("#record-view").is_hidden()

        await later.get_by_label("Nachricht", exact=True).fill("Hallo, ich bin es wieder.")
        await later.get_by_role("button", name="Senden").click()
        await ben.get_by_text("Hallo, ich bin es wieder.").wait_for()
        await ben.locator("#log").get_by_text(
            re.compile("Spätere Zeilen werden nicht zur Akte hinzugefügt")).wait_for()
        await ben.locator("#log").get_by_text(NO_GRANT).wait_for()

        # Nothing was appended, and nothing was tried.
        store = h.app[RECORDS]
        async with store.engine.connect() as conn:
            count = (await conn.execute(sa.select(sa.func.count())
                                        .select_from(record_entries))).scalar_one()
        assert count == 0
        anna_account = await h.app[USERS].find("akeller")
        assert anna_account is not None
        [meta] = await store.list_records(anna_account.id, time.time())
        actions = [t["action"] for t in await store.audit_trail(meta.id)]
        assert "append" not in actions and "reader" not in actions
