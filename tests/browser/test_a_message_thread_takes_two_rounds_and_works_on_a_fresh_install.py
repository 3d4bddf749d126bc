"""An anonymous message thread with two rounds (issue 17), at desktop size and at 390×844, on a
fresh install in demo mode: before anyone signed in to the console the widget says plainly
that no message can be left yet (it once said "Dieses Codewort kennen wir nicht."); once Anna
signed in it takes the message and states the reply time. Anna's console counts the thread as
waiting, she answers; the visitor comes back with the code, reads the answer and writes again
under the same code; the count goes up again, Anna sees both rounds oldest first with her own
first answer and answers again; the visitor reads both answers, in order."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from chatserver.config import Config
from chatserver.web.appkeys import RECORDS, USERS
from tests.support.browser import (
    PASSWORD,
    chromium,
    login,
    show_view,
    violations_under_csp,
    widget_server,
)
from tests.support.database import database_rows
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
FIRST, SECOND = "KANARIE-faden-frage-1", "KANARIE-faden-frage-2"
ANSWER1, ANSWER2 = "KANARIE-faden-antwort-1", "KANARIE-faden-antwort-2"


async def come_back(browser: Browser, h: Harness, code: str, size: str) -> Page:
    page = await (await browser.new_context(viewport=SIZES[size])).new_page()
    await page.goto(h.url + "/widget/frame")
    await page.get_by_text("Ich habe ein Codewort").click()
    await page.get_by_label("Codewort").fill(code)
    await page.get_by_role("button", name="Weiter").click()
    return page


async def answer(anna: Page, text: str) -> None:
    await show_view(anna, "Anonyme Nachrichten")
    await anna.get_by_role("button", name="Nachrichten laden").click()
    await anna.get_by_role("button", name="Lesen").click()
    await anna.get_by_label("Antwort").fill(text)
    await anna.get_by_role("button", name="Antworten").click()
    await anna.get_by_text("Antwort gespeichert").wait_for()


@pytest.mark.parametrize("size", SIZES)
async def test_two_rounds_under_one_code_from_a_fresh_install(
        make_config: Callable[..., Config], tmp_path: Path, size: str) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        visitor = await (await browser.new_context(viewport=SIZES[size])).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_text(re.compile(
            "Nachrichten können hier noch nicht hinterlassen werden")).wait_for()
        assert await visitor.locator("#drop-form").is_hidden()
        assert not await visitor.get_by_text("Dieses Codewort kennen wir nicht").count()

        anna_uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        anna = await (await browser.new_context()).new_page()
        await login(anna, h.url, "akeller", totp_of(anna_uri).now())
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()
        waiting = anna.locator("#drops-waiting")
        await waiting.get_by_text("Keine Nachricht wartet").wait_for()

        await visitor.reload()
        field = visitor.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:")
        await field.fill(FIRST)
        assert await visitor.locator("#drop-reply").text_content() == \
            "Wir antworten in der Regel innerhalb von 3 Werktagen."
        await visitor.get_by_role("button", name="Nachricht hinterlassen").click()
        await visitor.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()
        code = (await visitor.locator("#drop-codename").text_content() or "").strip()
        assert code
        box = await visitor.locator("#drop-codename").bounding_box()
        assert box is not None and box["x"] + box["width"] <= SIZES[size]["width"]

        await waiting.get_by_text("1 Nachricht wartet").wait_for()
        await answer(anna, ANSWER1)
        await waiting.get_by_text("Keine Nachricht wartet").wait_for()

        back = await come_back(browser, h, code, size)
        await back.get_by_text(f"Antwort von Anna aus der Beratung: {ANSWER1}").wait_for()
        assert await violations_under_csp(back) == []
        await back.get_by_label("Noch einmal schreiben (mit demselben Code):").fill(SECOND)
        await back.get_by_role("button", name="Antwort senden").click()
        await back.get_by_text(re.compile(
            "Gespeichert. Dein Code bleibt derselbe.*innerhalb von 3 Werktagen")).wait_for()

        await waiting.get_by_text("1 Nachricht wartet").wait_for()
        await show_view(anna, "Anonyme Nachrichten")
        await anna.get_by_role("button", name="Nachrichten laden").click()
        await anna.get_by_text(re.compile("2 Nachrichten · wartet auf Antwort")) \
            .wait_for()
        await anna.get_by_role("button", name="Lesen").click()
        await anna.locator("#drop-text", has_text=SECOND).wait_for()
        thread = await anna.locator("#drop-text").inner_text()
        order = [thread.index(s) for s in (FIRST, "Anna: " + ANSWER1, SECOND)]
        assert order == sorted(order), thread
        await anna.get_by_label("Antwort").fill(ANSWER2)
        await anna.get_by_role("button", name="Antworten").click()
        await anna.get_by_text("Antwort gespeichert").wait_for()
        await waiting.get_by_text("Keine Nachricht wartet").wait_for()
        # The thread shown again, with the answer just written as its last line.
        await anna.locator("#drop-text", has_text="Anna: " + ANSWER2).wait_for()

        last = await come_back(browser, h, code, size)
        answers = last.locator("#drop-answer li")
        await answers.nth(1).wait_for()
        assert await answers.all_inner_texts() == [
            f"Antwort von Anna aus der Beratung: {ANSWER1}",
            f"Antwort von Anna aus der Beratung: {ANSWER2}"]
        assert len(await h.app[RECORDS].list_drops()) == 1

    rows = database_rows(tmp_path / "test.sqlite3")
    assert b"drops: (" in rows
    for canary in (FIRST, SECOND, ANSWER1, ANSWER2, code):
        assert canary.encode() not in rows, canary
