"""Continuity as the consent text promises it: a visitor chats, says yes, goes on writing after
the record is filed, and those lines are added to the record (sealed, padded, never in clear
in the database). Later they come back with the codename in a new browser context: the
counsellor sees that this is a returning visitor with a record, opens it from the chat, and
reads the earlier lines, the later ones and those of the return chat. Then the visitor, in yet
another context, reads what is kept with their codename; the reading code at its end never
leaves their browsers, and without it nothing opens. The visitor's side at desktop size and at
390×844."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Page, Request, WebSocket

from chatserver import crypto
from chatserver.config import Config
from chatserver.records.schema import record_entries
from chatserver.web.appkeys import RECORDS, USERS
from tests.support.browser import (
    chromium,
    on_duty_console,
    show_view,
    shown_codename,
    violations_under_csp,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

BEFORE = "Mein Bruder Tom hat Angst vor den Leuten. KANARIE-vorher-3a1"
AFTER = "Danke, das hilft mir schon. KANARIE-danach-7b2"
REPLY = "Gern, schreib jederzeit wieder. KANARIE-antwort-5c3"
RETURNED = "Ich bin wieder da, mit meinem Codewort. KANARIE-zurueck-9d4"
SEALED_1K = 1024 + 48


async def send(page: Page, text: str) -> None:
    await page.get_by_label("Nachricht", exact=True).fill(text)
    await page.get_by_role("button", name="Senden").click()


SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("size", SIZES)
async def test_later_lines_and_a_codename_return_go_into_the_record_the_counsellor_opens(
    make_config: Callable[..., Config], tmp_path: Path, size: str
) -> None:
    wire: list[str] = []  # everything the visitor's browsers sent and received

    def record(page: Page) -> Page:
        def socket(ws: WebSocket) -> None:
            ws.on("framesent", lambda p: wire.append(str(p)))
            ws.on("framereceived", lambda p: wire.append(str(p)))

        def request(req: Request) -> None:
            wire.append(req.url + " " + (req.post_data or ""))

        page.on("websocket", socket)
        page.on("request", request)
        return page

    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna: Page = await (await browser.new_context()).new_page()
        await on_duty_console(h, anna)
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()

        visitor = record(await (await browser.new_context(
            viewport=SIZES[size])).new_page())  # type: ignore[arg-type]
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await anna.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await send(visitor, BEFORE)
        await anna.get_by_text(BEFORE).wait_for()
        await anna.get_by_role("button", name="Einwilligung erfragen").click()
        await visitor.get_by_role("button", name="Ja, einverstanden").click()
        await anna.get_by_text("Einwilligung: ja").wait_for()
        await anna.get_by_role("button", name="Akte anlegen").click()
        await anna.get_by_text("Akte gespeichert").wait_for()
        await anna.get_by_text(re.compile("Akte angelegt: was jetzt geschrieben wird")).wait_for()
        codename = (await visitor.locator("#codename-value").text_content() or "").strip()
        # Seven words from the server, and the reading code made in this browser after them.
        words, code = shown_codename(codename)

        # Written after the hand-off, by both sides: added to the record.
        await send(visitor, AFTER)
        await anna.get_by_text(AFTER).wait_for()
        await anna.get_by_label("Nachricht", exact=True).fill(REPLY)
        await anna.get_by_role("button", name="Senden").click()
        await visitor.get_by_text(REPLY).wait_for()

        account = await h.app[USERS].find("akeller")
        assert account is not None
        store = h.app[RECORDS]
        [meta] = await store.list_records(account.id, time.time())

        async def entries() -> list[str]:
            async with store.engine.connect() as conn:
                rows = await conn.execute(sa.select(record_entries.c.body)
                                          .where(record_entries.c.record_id == meta.id)
                                          .order_by(record_entries.c.id))
                return [r[0] for r in rows]

        async def holds(n: int) -> bool:
            return len(await entries()) >= n

        # The visitor's line and the counsellor's reply (an entry each: each goes as soon as it
        # is on screen), padded to the same bucket, in clear nowhere.
        await eventually(lambda: holds(2), what="both later lines in the record")
        stored = await entries()
        assert {len(crypto.b64decode(b)) for b in stored} == {SEALED_1K}
        for canary in (AFTER, REPLY, "KANARIE"):
            assert all(canary not in b for b in stored)

        # A second hand-off from this chat is not offered: the record is growing already.
        await anna.get_by_role("button", name="Akte anlegen").click()
        await anna.get_by_text(re.compile("Dieser Chat hat schon eine Akte")).wait_for()
        assert len(await store.list_records(account.id, time.time())) == 1

        await visitor.get_by_role("button", name="Chat beenden", exact=True).click()
        await anna.locator("#chat").wait_for(state="hidden")

        # Back later, in a new browser context, with the codename.
        later = record(await (await browser.new_context(
            viewport=SIZES[size])).new_page())  # type: ignore[arg-type]
        await later.goto(h.url + "/widget/frame")
        await later.get_by_text("Ich habe ein Codewort").click()
        await later.get_by_label("Codewort").fill(codename)
        await later.get_by_role("button", name="Weiter").click()
        await anna.get_by_role("button", name="Annehmen").click()
        await later.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        returning = re.compile("Kommt mit Codewort zurück: Akte vorhanden")
        await anna.locator("#log").get_by_text(returning).wait_for()
        await anna.locator("#chat-record").get_by_text(returning).wait_for()
        await send(later, RETURNED)
        await anna.get_by_text(RETURNED).wait_for()
        await eventually(lambda: holds(len(stored) + 1),
                         what="the return chat's line in the record")

        # From the chat, the counsellor opens the record: before, after and the return.
        await anna.get_by_role("button", name="Akte öffnen").click()
        view = anna.locator("#record-view")
        for line in (BEFORE, AFTER, REPLY, RETURNED):
            await view.get_by_text(re.compile(re.escape(line))).wait_for()
        text = await view.text_content() or ""
        assert text.index(BEFORE) < text.index(AFTER) < text.index(REPLY) < text.index(RETURNED)
        assert "später" in text
        trail = [(t["user_id"], t["action"]) for t in await store.audit_trail(meta.id)]
        assert trail.count((account.id, "append")) == len(await entries())
        # The record opened in the records view; back to the chat by its tab to end it.
        await show_view(anna, "Chats")
        await anna.get_by_role("button", name="Chat beenden", exact=True).click()
        await anna.get_by_role("button", name="Ja, Chat beenden").click()
        await anna.locator("#chat").wait_for(state="hidden")

        # The visitor reads what is kept, in yet another browser context, with the codename.
        reader = record(await (await browser.new_context(
            viewport=SIZES[size])).new_page())  # type: ignore[arg-type]
        await reader.goto(h.url + "/widget/frame")
        await reader.get_by_text("Ich habe ein Codewort").click()
        # Without the reading code at its end, nothing can be opened, and nothing is asked.
        await reader.get_by_label("Codewort").fill(" ".join(words))
        await reader.get_by_role("button", name="Aufbewahrtes lesen").click()
        await reader.get_by_text(re.compile("auch die Gruppen mit Ziffern")).wait_for()
        await reader.get_by_label("Codewort").fill(codename.upper())
        await reader.get_by_role("button", name="Aufbewahrtes lesen").click()
        await reader.get_by_text("Das ist aufbewahrt:").wait_for()
        # The view of what is kept passes axe like every other widget view.
        assert await violations_under_csp(reader) == []
        kept = reader.locator("#record-read")
        for line in (BEFORE, AFTER, REPLY, RETURNED):
            await kept.get_by_text(line, exact=True).wait_for()
        assert await kept.locator("li.me").all_text_contents() == [BEFORE, AFTER, RETURNED]
        assert await kept.locator("li.them").all_text_contents() == [REPLY]
        assert ("visitor", "read") in [(t["user_id"], t["action"])
                                       for t in await store.audit_trail(meta.id)]

        # The server heard the words, never the reading code (in any spelling), and stores the
        # visitor's copies as ciphertext only.
        sent = "\n".join(wire)
        assert " ".join(words) in sent
        for spelling in (code, code.upper(), code.replace("-", ""), code.replace("-", " ")):
            assert spelling not in sent
        async with store.engine.connect() as conn:
            copies = [r[0] for r in await conn.execute(
                sa.select(record_entries.c.reader_body)
                .where(record_entries.c.record_id == meta.id))]
        assert copies and all(copies) and not any("KANARIE" in c for c in copies)

        # Withdrawn: the visitor's copy is gone with the record.
        await reader.get_by_role(
            "button", name="Zustimmung widerrufen und Aufbewahrtes löschen").click()
        await reader.get_by_role("button", name="Ja, endgültig löschen").click()
        await reader.get_by_text("Das aufbewahrte Gespräch ist gelöscht.").wait_for()
        await reader.get_by_role("button", name="Aufbewahrtes lesen").click()
        await reader.get_by_text("Dieses Codewort kennen wir nicht.").wait_for()
        assert await reader.locator("#record-read li").count() == 0
        assert await entries() == []
