"""Lengths leak little (issue 15, docs/protocol.md "Padding of records, notes and drops"): two
anonymous messages of 10 and 300 characters, Anna's two answers of 10 and 300 characters and
her two notes of 10 and 300 characters each lie in the database as ciphertexts of one length,
and still read as written, in the widget and the console. A drop and a case record with a note
stored before padding (unpadded, as the console wrote them) still open."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import nacl.bindings as sodium
import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page

from chatserver import crypto
from chatserver.config import Config
from chatserver.records.schema import team_keys
from chatserver.web.appkeys import ENGINE, RECORDS, USERS
from tests.support.browser import PASSWORD, chromium, login, show_view, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of

pytestmark = pytest.mark.browser

SHORT = "KANARIE-10"
LONG = "KANARIE-300-" + "x" * 288
OLD_DROP, OLD_RECORD, OLD_NOTE = "KANARIE-alt-frage", "KANARIE-alt-akte", "KANARIE-alt-notiz"


def _old_box(obj: dict[str, object], key: bytes) -> str:
    """A body as the console boxed it before padding: nonce and secretbox of bare JSON."""
    nonce = bytes(24)
    return crypto.b64encode(nonce + sodium.crypto_secretbox(
        json.dumps(obj, separators=(",", ":")).encode(), nonce, key))


async def _leave(browser: Browser, h: Harness, text: str) -> str:
    """A visitor leaves ``text`` as an anonymous message; the code the widget shows."""
    page = await (await browser.new_context()).new_page()
    await page.goto(h.url + "/widget/frame")
    await page.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(text)
    await page.get_by_role("button", name="Nachricht hinterlassen").click()
    await page.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()
    code = (await page.locator("#drop-codename").text_content() or "").strip()
    await page.context.close()
    return code


async def _read(anna: Page, i: int) -> str:
    """The text of the ``i``-th anonymous message as Anna's console shows it, freshly loaded."""
    await show_view(anna, "Anonyme Nachrichten")
    await anna.get_by_role("button", name="Nachrichten laden").click()
    await anna.get_by_role("button", name="Lesen").nth(i).wait_for()
    await anna.evaluate("document.getElementById('drop-text').textContent = ''")
    await anna.get_by_role("button", name="Lesen").nth(i).click()
    text = anna.locator("#drop-text")
    await text.filter(has_text=re.compile("KANARIE")).wait_for()
    return await text.text_content() or ""


async def test_drops_answers_and_notes_of_10_and_300_characters_are_stored_alike(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna_uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        anna = await (await browser.new_context()).new_page()
        await login(anna, h.url, "akeller", totp_of(anna_uri).now())
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()
        store = h.app[RECORDS]

        codes = {SHORT: await _leave(browser, h, SHORT), LONG: await _leave(browser, h, LONG)}
        stored = [await store.open_drop(d["drop_id"]) for d in await store.list_drops()]
        assert len(stored) == 2
        assert len(stored[0]["body"]) == len(stored[1]["body"])

        # Anna reads and answers each with the other's length: answers pad alike too.
        answers = {SHORT: LONG, LONG: SHORT}
        for i in range(2):
            shown = await _read(anna, i)
            question = LONG if LONG in shown else SHORT
            assert question in shown
            await anna.get_by_label("Antwort").fill(answers[question])
            await anna.evaluate("document.getElementById('status').textContent = ''")
            await anna.get_by_role("button", name="Antworten").click()
            await anna.get_by_text("Antwort gespeichert").wait_for()
        answered = [await store.open_drop(d["drop_id"]) for d in await store.list_drops()]
        sealed = [d["answer"]["sealed"] for d in answered]
        assert all(sealed) and len(sealed[0]) == len(sealed[1])

        # The visitor reads the long answer, unpadded, under Anna's name.
        later = await (await browser.new_context()).new_page()
        await later.goto(h.url + "/widget/frame")
        await later.get_by_text("Ich habe ein Codewort").click()
        await later.get_by_label("Codewort").fill(codes[SHORT])
        await later.get_by_role("button", name="Weiter").click()
        await later.get_by_text(f"Antwort von Anna aus der Beratung: {LONG}").wait_for()

        # Stored before padding: a drop, a record and a note on it, boxed without it.
        async with h.app[ENGINE].begin() as conn:
            records_pk = crypto.b64decode((await conn.execute(sa.select(
                team_keys.c.public_key).where(team_keys.c.name == "records"))).scalar_one())
        keys = crypto.drop_keys(crypto.generate_drop_code())
        lookup = crypto.b64encode(keys.lookup)
        drop_key, record_key = bytes(range(32)), bytes(range(1, 33))
        await store.create_drop(lookup, crypto.b64encode(crypto.seal(records_pk, drop_key)),
                                _old_box({"t": "drop", "body": OLD_DROP, "lookup": lookup},
                                         drop_key),
                                crypto.b64encode(keys.reply_pk), time.time())
        account = await h.app[USERS].find("akeller")
        assert account is not None
        record_id, _ = await store.create(
            account.id, "1", crypto.b64encode(crypto.seal(records_pk, record_key)),
            _old_box({"consent_version": "1", "consent_at": 0, "entry": "web",
                      "transcript": [["peer", OLD_RECORD]]}, record_key), time.time())
        await store.add_note(record_id, account.id,
                             _old_box({"t": "note", "body": OLD_NOTE}, record_key), time.time())

        assert any([OLD_DROP in await _read(anna, i) for i in range(3)])

        await show_view(anna, "Fallakten")
        await anna.get_by_role("button", name="Akten laden").click()
        await anna.get_by_role("button", name="Öffnen", exact=True).click()
        view = anna.locator("#record-view")
        await view.get_by_text(re.compile(OLD_RECORD)).wait_for()
        await view.get_by_text(re.compile(OLD_NOTE)).wait_for()
        for text in (SHORT, LONG):
            await anna.get_by_label("Notiz", exact=True).fill(text)
            await anna.get_by_role("button", name="Notiz hinzufügen").click()
            await view.get_by_text(re.compile(re.escape(text))).first.wait_for()
        opened = await store.open(record_id, account.id, time.time())
        old, short, long = (n["body"] for n in opened["notes"])
        assert len(short) == len(long) > len(old)
