"""The widget and the console in Chromium (docs/protocol.md, "Reload state" and "Key
continuity").

1. With "continue after reload" the visitor reloads mid-chat: lines, safety number and E2E
   session are back, nothing is re-keyed (the console shows no warning), messages go on both
   ways exactly once; ending the chat wipes what the tab kept.
2. Someone else holding the resume token says hello: the console holds it behind a blocking
   warning, answers nothing, and the newcomer reads nothing. A widget that lost its kept chat
   says hello too: the counsellor connects it on purpose, and the visitor is warned as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from chatserver import crypto
from chatserver.config import Config
from tests.support.browser import chromium, on_duty_console, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

REMEMBER = "Nach Neuladen der Seite fortsetzen (bis der Chat endet)"
WIDGET_DB = "erstkontakt-widget-reload"
DATABASES = "async () => (await indexedDB.databases()).map((d) => d.name)"


async def lines(page: Page, selector: str) -> list[str]:
    """The texts of the log lines matching ``selector``, without their marks, in order."""
    return list(await page.eval_on_selector_all(
        selector, "lis => lis.map(li => li.firstChild ? li.firstChild.data : '')"))


async def visitor_types(page: Page, text: str) -> None:
    await page.get_by_label("Nachricht", exact=True).fill(text)
    await page.keyboard.press("Enter")


async def counsellor_types(page: Page, text: str) -> None:
    await page.get_by_label("Nachricht", exact=True).fill(text)
    await page.get_by_role("button", name="Senden").click()


async def console_on_duty(h: Harness, browser: Browser) -> Page:
    return await on_duty_console(h, await (await browser.new_context()).new_page())


async def chatting_widget(h: Harness, browser: Browser, console: Page) -> Page:
    """A widget with "continue after reload" in a chat the console accepted, one line each."""
    visitor = await (await browser.new_context()).new_page()
    await visitor.goto(h.url + "/widget/frame")
    await visitor.get_by_label(REMEMBER).check()
    await visitor.get_by_role("button", name="Chat beginnen").click()
    await console.get_by_role("button", name="Annehmen").click()
    await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
    await visitor_types(visitor, "Hallo vor dem Neuladen")
    await console.locator("#log li.them", has_text="Hallo vor dem Neuladen").wait_for()
    await counsellor_types(console, "Antwort vor dem Neuladen")
    await visitor.locator("#log li.them", has_text="Antwort vor dem Neuladen").wait_for()
    await visitor.locator("#log li.me small", has_text="zugestellt").wait_for()
    return visitor


async def safety_number(console: Page) -> str:
    text = await console.locator("#safety").text_content() or ""
    return text.rsplit(": ", 1)[1]


async def test_a_widget_reload_keeps_lines_session_and_delivery(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, demo=True) as h, \
            chromium() as browser:
        console = await console_on_duty(h, browser)
        visitor = await chatting_widget(h, browser, console)
        number = await safety_number(console)
        assert number in (await visitor.locator("#peer").text_content() or "")
        # Kept in this tab's sessionStorage, encrypted: no line of the chat in clear.
        kept = await visitor.evaluate("JSON.stringify(sessionStorage)")
        assert WIDGET_DB + ":" in kept
        assert "Hallo vor dem Neuladen" not in kept and "Antwort vor dem Neuladen" not in kept

        await visitor.reload()
        await visitor.get_by_text("Der Chat geht nach dem Neuladen weiter.").wait_for()
        assert await lines(visitor, "#log li.me") == ["Hallo vor dem Neuladen"]
        assert await lines(visitor, "#log li.them") == ["Antwort vor dem Neuladen"]
        await visitor.locator("#log li.me small", has_text="zugestellt").wait_for()
        assert number in (await visitor.locator("#peer").text_content() or "")
        # The same session goes on: nothing was re-keyed, nobody was warned.
        assert await visitor.locator("#rekey").is_hidden()
        assert await console.locator("#newcomer").is_hidden()

        await visitor_types(visitor, "Hallo nach dem Neuladen")
        await console.locator("#log li.them", has_text="Hallo nach dem Neuladen").wait_for()
        await counsellor_types(console, "Antwort nach dem Neuladen")
        await visitor.locator("#log li.them", has_text="Antwort nach dem Neuladen").wait_for()
        await visitor.locator("#log li.me", has_text="Hallo nach dem Neuladen").locator(
            "small", has_text="zugestellt").wait_for()
        assert await lines(console, "#log li.them") == ["Hallo vor dem Neuladen",
                                                        "Hallo nach dem Neuladen"]
        assert await lines(visitor, "#log li.them") == ["Antwort vor dem Neuladen",
                                                        "Antwort nach dem Neuladen"]
        assert await safety_number(console) == number
        assert await console.locator("#log li", has_text="nicht bestätigte Person").count() == 0

        # Ending the chat wipes what the tab kept, key included.
        assert WIDGET_DB in await visitor.evaluate(DATABASES)
        await visitor.get_by_role("button", name="Chat beenden", exact=True).click()
        await visitor.get_by_text("Der Chat ist beendet").wait_for()
        assert await visitor.evaluate(
            "Object.keys(sessionStorage).concat(Object.keys(localStorage))") == []
        await eventually(lambda: visitor.evaluate(DATABASES),
                         until=lambda names: WIDGET_DB not in names)


async def test_an_unvouched_hello_waits_for_the_counsellor_and_reads_nothing(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, demo=True) as h, \
            chromium() as browser:
        console = await console_on_duty(h, browser)
        visitor = await chatting_widget(h, browser, console)
        number = await safety_number(console)
        saved = await visitor.evaluate("sessionStorage.getItem('erstkontakt')")
        token = json.loads(saved)["resume"]

        # Someone with the resume token (the server, Redis, a copied tab) says hello.
        intruder = await h.visitor()
        assert (await intruder.resume(token))["status"] == "active"
        session = pki.visitor_session(intruder.chat_id)
        assert (await intruder.send(crypto.b64encode(session.hello())))["ok"]
        newcomer = console.get_by_role("alertdialog", name=re.compile("nicht bestätigte Person"))
        await newcomer.wait_for()
        safety = await console.locator("#newcomer-safety").text_content()
        assert safety and safety != number
        # Blocking: nothing more goes out in this chat until the counsellor decides.
        assert await console.get_by_label("Nachricht", exact=True).is_disabled()
        assert await console.get_by_role("button", name="Senden").is_disabled()
        await console.get_by_role("button", name="Nicht verbinden").click()
        await newcomer.wait_for(state="hidden")
        await counsellor_types(console, "Nur für die richtige Person")
        await visitor.locator("#log li.them", has_text="Nur für die richtige Person").wait_for()
        assert await safety_number(console) == number
        # The newcomer got the counsellor's envelopes (the room is the chat's), never an
        # answer to its hello: nothing opens for it.
        frames = [crypto.b64decode(m["ct"]) for m in intruder.drain("msg")]
        assert frames, "the newcomer saw no envelope at all"
        assert all(f[0] != crypto.COUNSELLOR_HELLO for f in frames)
        for frame in frames:
            with pytest.raises(crypto.CryptoError):
                session.receive(frame)
        await intruder.disconnect()

        # The visitor's own widget loses what it kept (the records go, the token stays) and
        # reloads: its new hello is unvouched too. The counsellor connects it on purpose.
        await visitor.evaluate(
            f"() => {{ for (const k of Object.keys(sessionStorage)) "
            f"if (k.startsWith('{WIDGET_DB}:')) sessionStorage.removeItem(k); }}")
        await visitor.reload()
        await newcomer.wait_for()
        await console.get_by_role("button", name="Verbinden", exact=True).click()
        warned = visitor.get_by_role("alertdialog", name="Neue Verbindung")
        await warned.wait_for()
        assert await visitor.get_by_label("Nachricht", exact=True).is_disabled()
        await visitor.get_by_role("button", name="Verstanden").click()
        await warned.wait_for(state="hidden")
        renewed = await safety_number(console)
        assert renewed not in (number, safety)
        assert renewed in (await visitor.locator("#peer").text_content() or "")
        await visitor_types(visitor, "Wieder da")
        await console.locator("#log li.them", has_text="Wieder da").wait_for()
        await counsellor_types(console, "Willkommen zurück")
        await visitor.locator("#log li.them", has_text="Willkommen zurück").wait_for()


async def test_lines_in_flight_during_a_widget_reload_arrive_once_in_order_both_ways(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, demo=True) as h, \
            chromium() as browser:
        console = await console_on_duty(h, browser)
        visitor = await chatting_widget(h, browser, console)
        # The counsellor writes three lines and the visitor one, and the visitor reloads at
        # once, before any of it was shown or acknowledged.
        for n in (1, 2, 3):
            await counsellor_types(console, f"Unterwegs {n}")
        await visitor.get_by_label("Nachricht", exact=True).fill("Auch unterwegs")
        await visitor.keyboard.press("Enter")
        await visitor.reload()

        await visitor.locator("#log li.them", has_text="Unterwegs 3").wait_for()
        await console.locator("#log li.them", has_text="Auch unterwegs").wait_for()
        assert await lines(visitor, "#log li.them") == [
            "Antwort vor dem Neuladen", "Unterwegs 1", "Unterwegs 2", "Unterwegs 3"]
        assert await lines(console, "#log li.them") == ["Hallo vor dem Neuladen",
                                                        "Auch unterwegs"]
        assert await lines(visitor, "#log li.me") == ["Hallo vor dem Neuladen", "Auch unterwegs"]
        # Every line on both sides ends "zugestellt", and only once it was shown.
        for n in (1, 2, 3):
            await console.locator("#log li.me", has_text=f"Unterwegs {n}").locator(
                "small", has_text="zugestellt").wait_for()
        await visitor.locator("#log li.me", has_text="Auch unterwegs").locator(
            "small", has_text="zugestellt").wait_for()
        assert await console.locator("#newcomer").is_hidden()
