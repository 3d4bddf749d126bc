"""Issue 6 in the browser: consent yes, record sealed in the console, read by a colleague
after a grant, codename return to the same counsellor. (Message drops: the tests named after
them.)"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from chatserver.config import Config
from chatserver.web.appkeys import RECORDS, USERS
from tests.support.browser import (
    PASSWORD,
    chromium,
    login,
    show_view,
    shown_codename,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of

pytestmark = pytest.mark.browser

CANARY = "KANARIE-akte-9921"


async def test_consent_record_colleague_reads_and_codename_returns(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna_uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        ben_uri = await h.app[USERS].add("bschmidt", "counsellor", PASSWORD, pseudonym="Ben")

        # Anna is first: her console creates the team's records key.
        anna_ctx = await browser.new_context()
        anna: Page = await anna_ctx.new_page()
        await login(anna, h.url, "akeller", totp_of(anna_uri).now())
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()

        ben_ctx = await browser.new_context()
        ben: Page = await ben_ctx.new_page()
        await login(ben, h.url, "bschmidt", totp_of(ben_uri).now())
        await ben.get_by_text(re.compile("Warte auf Freigabe")).wait_for()
        await show_view(anna, "Fallakten")
        await anna.get_by_role("button", name="Akten laden").click()
        await anna.get_by_role("button", name="Freigeben").click()
        await anna.get_by_role("button", name="Freigeben").wait_for(state="detached")
        # A reload keeps the keys: they come back unwrapped with the password-derived key.
        await anna.reload()
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()
        # (Had the reload made a new box key, her grant would be void and this would wait.)
        await anna.get_by_role("button", name="Dienst beginnen").click()
        await anna.get_by_text("Im Dienst").wait_for()

        visitor_ctx = await browser.new_context()
        visitor = await visitor_ctx.new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await anna.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await visitor.get_by_label("Nachricht", exact=True).fill(CANARY)
        await visitor.get_by_role("button", name="Senden").click()
        await anna.get_by_text(CANARY).wait_for()

        # Without consent the console cannot create a record.
        await anna.get_by_role("button", name="Akte anlegen").click()
        await anna.get_by_text("Keine Einwilligung").wait_for()
        await anna.get_by_role("button", name="Einwilligung erfragen").click()
        await visitor.get_by_role("button", name="Ja, einverstanden").click()
        await anna.get_by_text("Einwilligung: ja").wait_for()
        await anna.get_by_role("button", name="Akte anlegen").click()
        await anna.get_by_text("Akte gespeichert").wait_for()
        # The records view counts it at once, without loading the list (that is audited).
        await expect(anna.locator("#count-records")).to_have_text("(1)")
        codename = (await visitor.locator("#codename-value").text_content() or "").strip()
        shown_codename(codename)

        # The database holds ciphertext only (read as Anna, who holds the records key).
        anna_account = await h.app[USERS].find("akeller")
        assert anna_account is not None
        records = await h.app[RECORDS].list_records(anna_account.id, time.time())
        assert len(records) == 1
        stored = await h.app[RECORDS].open(records[0].id, anna_account.id, time.time())
        assert CANARY not in stored["body"]

        # Ben, granted by Anna, opens and reads it in his console; after a reload his console
        # counts the record before he lists anything.
        await ben.reload()
        await ben.get_by_text("Aktenschlüssel entsperrt").wait_for()
        await expect(ben.locator("#count-records")).to_have_text("(1)")
        await show_view(ben, "Fallakten")
        await ben.get_by_role("button", name="Akten laden").click()
        await ben.get_by_text("Aktenschlüssel entsperrt").wait_for()
        await ben.get_by_role("button", name="Öffnen", exact=True).click()
        await ben.locator("#record-view").get_by_text(re.compile(CANARY)).wait_for()
        await ben.get_by_label("Notiz", exact=True).fill("Rückruf vereinbart")
        await ben.get_by_role("button", name="Notiz hinzufügen").click()
        await ben.locator("#record-view").get_by_text(re.compile("Rückruf vereinbart")).wait_for()
        async with ben.expect_download() as download_info:
            await ben.get_by_role("button", name="Exportieren").click()
        exported = Path(await (await download_info.value).path()).read_text("utf-8")
        assert CANARY in exported and "Rückruf vereinbart" in exported
        trail = await h.app[RECORDS].audit_trail(records[0].id)
        assert [t["action"] for t in trail][-3:] == ["note", "open", "export"]

        # The visitor leaves; later the codename opens a chat reserved for Anna.
        await visitor.get_by_role("button", name="Chat beenden", exact=True).click()
        later = await (await browser.new_context()).new_page()
        await later.goto(h.url + "/widget/frame")
        await later.get_by_text("Ich habe ein Codewort").click()
        await later.get_by_label("Codewort").fill(codename)
        await later.get_by_role("button", name="Weiter").click()
        await later.get_by_text(re.compile("Du bist auf Platz 1")).wait_for()
        await anna.get_by_role("button", name="Annehmen").click()
        await later.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()

        # Withdrawing consent from the widget, once confirmed, deletes the record at once.
        gone = await (await browser.new_context()).new_page()
        await gone.goto(h.url + "/widget/frame")
        await gone.get_by_text("Ich habe ein Codewort").click()
        await gone.get_by_label("Codewort").fill(codename)
        await gone.get_by_role(
            "button", name="Zustimmung widerrufen und Aufbewahrtes löschen").click()
        await gone.get_by_role("button", name="Ja, endgültig löschen").click()
        await gone.get_by_text("Das aufbewahrte Gespräch ist gelöscht.").wait_for()
        assert await h.app[RECORDS].list_records(anna_account.id, time.time()) == []

