"""Consent in the widget is a real dialog, on desktop and at 390×844: asked while the visitor
types, it takes no focus; Enter sends the typed line and gives no consent; the question is the
dialog's name and description and is announced in the log; Tab reaches the answers, and a yes
given by keyboard reaches the console, with a note until the codename comes. Withdrawing asks
first: cancelling (by Enter or Escape) keeps the record, the codename still works; only the
second, explicit button deletes it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page, expect

from chatserver.config import Config
from chatserver.records.schema import records
from chatserver.web.appkeys import ENGINE, RELAY, USERS
from tests.support.browser import (
    PASSWORD,
    chromium,
    login,
    serious_violations_under_csp,
    shown_codename,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of
from tests.support.typist import Typist
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
BEFORE_ASKED = "Danke. Ich wollte noch sagen, "
AFTER_ASKED = "Dass Mein Bruder Nichts Weiß."
LATER = "Noch Eine Frage."
NO_CONSENT_YET = re.compile("Einwilligung: ")
ANNOUNCED = "Die Beratung fragt, ob sie das Gespräch aufbewahren darf (unter dem Eingabefeld)."
PENDING = "Sobald die Beratung das Gespräch abgelegt hat, steht hier dein Codewort."



async def filed(h: Harness) -> int:
    """How many case records the database holds (deleted or not), read past every check."""
    async with h.app[ENGINE].connect() as conn:
        count = await conn.execute(sa.select(sa.func.count()).select_from(records))
        return int(count.scalar_one())


async def focused(page: Page) -> str:
    return str(await page.evaluate("document.activeElement.id"))


async def anna_on_duty(browser: Browser, h: Harness) -> Page:
    uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
    anna = await (await browser.new_context()).new_page()
    await login(anna, h.url, "akeller", totp_of(uri).now())
    await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()
    await anna.get_by_role("button", name="Dienst beginnen").click()
    await anna.get_by_text("Im Dienst").wait_for()
    return anna


async def consent_of(h: Harness, chat_id: str) -> str:
    chat = await h.app[RELAY].get_chat(chat_id)
    assert chat is not None
    return chat.consent


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_consent_asked_while_typing_is_answered_only_on_purpose_and_withdrawal_asks_first(
    make_config: Callable[..., Config], tmp_path: Path, viewport: str
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna = await anna_on_duty(browser, h)
        visitors = await browser.new_context(viewport=VIEWPORTS[viewport])  # type: ignore[arg-type]
        visitor = await visitors.new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await visitor.get_by_text("Du bist auf Platz 1").wait_for()
        chat_id = (await h.app[RELAY].state.queued())[0].id
        await anna.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()

        # Halfway through a line the counsellor asks; the visitor types on and presses Enter.
        composer = visitor.get_by_label("Nachricht", exact=True)
        await composer.click()
        typist = await Typist.at(visitor, seed=2)
        await typist.type(BEFORE_ASKED)
        await anna.get_by_role("button", name="Einwilligung erfragen").click()
        dialog = visitor.get_by_role("dialog", name="Gespräch aufbewahren?")
        await dialog.wait_for()
        await expect(dialog).to_have_accessible_description(
            re.compile("^Dürfen wir dieses Gespräch verschlüsselt aufbewahren"))
        await visitor.locator("#log").get_by_text(ANNOUNCED).wait_for()
        assert await focused(visitor) == "text"
        await typist.type(AFTER_ASKED)
        await expect(composer).to_have_value(BEFORE_ASKED + AFTER_ASKED)
        await visitor.keyboard.press("Enter")
        await anna.get_by_text(BEFORE_ASKED + AFTER_ASKED).wait_for()
        await expect(composer).to_have_value("")
        assert await focused(visitor) == "text"
        await expect(dialog).to_be_visible()
        assert await serious_violations_under_csp(visitor) == []
        assert await focused(visitor) == "text"
        # A later line arrives after anything sent before it: no consent came in between.
        await typist.type(LATER)
        await visitor.keyboard.press("Enter")
        await anna.get_by_text(LATER).wait_for()
        await expect(anna.get_by_text(NO_CONSENT_YET)).to_have_count(0)
        assert await consent_of(h, chat_id) == ""
        assert await focused(visitor) == "text"

        # On purpose, by keyboard: Tab from the composer reaches the answers.
        await visitor.keyboard.press("Tab")
        assert await focused(visitor) == "consent-yes"
        await expect(visitor.get_by_role("button", name="Schnell verlassen")).to_be_in_viewport()
        await visitor.keyboard.press("Enter")
        await anna.get_by_text("Einwilligung: ja").wait_for()

        async def consented() -> bool:
            return await consent_of(h, chat_id) == "v2"

        await eventually(consented, what="the relay to note the visitor's consent")
        await expect(dialog).to_be_hidden()
        assert await focused(visitor) == "text"
        # Until the counsellor files the record, the widget says what comes next.
        await visitor.get_by_text(PENDING).wait_for()
        assert await serious_violations_under_csp(visitor) == []
        await anna.get_by_role("button", name="Akte anlegen").click()
        await anna.get_by_text("Akte gespeichert").wait_for()
        await visitor.get_by_text(re.compile("Bitte schreib dir dieses Codewort auf")).wait_for()
        await expect(visitor.get_by_text(PENDING)).to_have_count(0)
        codename = (await visitor.locator("#codename-value").text_content() or "").strip()
        shown_codename(codename)
        await visitor.get_by_role("button", name="Chat beenden", exact=True).click()
        assert await filed(h) == 1

        # Withdrawal asks first; Enter on the focused "cancel" and Escape both keep the record.
        page = await visitors.new_page()
        await page.goto(h.url + "/widget/frame")
        await page.get_by_text("Ich habe ein Codewort").click()
        await page.get_by_label("Codewort").fill(codename)
        withdraw = page.get_by_role("button", name="Zustimmung widerrufen und Aufbewahrtes löschen")
        confirm = page.get_by_role("alertdialog", name="Wirklich löschen?")
        await withdraw.click()
        await expect(confirm).to_be_visible()
        await expect(confirm).to_have_accessible_description(re.compile("endgültig gelöscht"))
        assert await serious_violations_under_csp(page) == []
        assert await focused(page) == "withdraw-no"
        await page.keyboard.press("Enter")
        await expect(confirm).to_be_hidden()
        await page.get_by_text("Nichts gelöscht.").wait_for()
        assert await focused(page) == "withdraw"
        await page.keyboard.press("Enter")
        await expect(confirm).to_be_visible()
        await page.keyboard.press("Escape")
        await expect(confirm).to_be_hidden()
        assert await focused(page) == "withdraw"

        # The record is still there: its codename opens a return chat.
        later = await visitors.new_page()
        await later.goto(h.url + "/widget/frame")
        await later.get_by_text("Ich habe ein Codewort").click()
        await later.get_by_label("Codewort").fill(codename)
        await later.get_by_role("button", name="Weiter").click()
        await later.get_by_text(re.compile("Du bist auf Platz 1")).wait_for()
        assert await filed(h) == 1

        # Only the second, explicit button deletes: reached by keyboard from "cancel".
        await page.keyboard.press("Enter")
        await expect(confirm).to_be_visible()
        await page.keyboard.press("Shift+Tab")
        assert await focused(page) == "withdraw-yes"
        await page.keyboard.press("Enter")
        await page.get_by_text("Das aufbewahrte Gespräch ist gelöscht.").wait_for()
        assert await filed(h) == 0
