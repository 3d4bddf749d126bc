"""The widget and the console chat in Chromium; the counsellor's network drops for a while
(the console's socket goes away), and both people keep typing. Nothing the visitor typed
says "zugestellt" while the console cannot show it; after the console is back every message
typed during the outage shows up exactly once, in order, on the other side, and each line
says "zugestellt" / "delivered" only after the other page displayed it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from playwright.async_api import Page, WebSocket

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.browser import WATCH, chromium, unlock, widget_server
from tests.support.e2e_clients import Pki
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

PASSWORD = "lang-und-geheim-genug"


def totp_of(uri: str) -> pyotp.TOTP:
    return pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0])


async def login(page: Page, url: str, name: str, code: str) -> None:
    await page.goto(url + "/console/login")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Passwort").fill(PASSWORD)
    await page.get_by_label("Einmalcode").fill(code)
    await page.get_by_role("button", name="Anmelden").click()
    await unlock(page)


async def visitor_types(page: Page, text: str) -> None:
    await page.get_by_label("Nachricht", exact=True).fill(text)
    await page.keyboard.press("Enter")


async def counsellor_types(page: Page, text: str) -> None:
    await page.get_by_label("Nachricht", exact=True).fill(text)
    await page.get_by_role("button", name="Senden").click()


async def shown(page: Page, selector: str) -> list[str]:
    """The texts of the log lines matching ``selector``, without their marks, in order."""
    return list(await page.eval_on_selector_all(
        selector, "lis => lis.map(li => li.firstChild ? li.firstChild.data : '')"))


async def test_messages_typed_while_the_console_is_offline_arrive_once_after_reconnect(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        console_ctx = await browser.new_context()
        console = await console_ctx.new_page()
        sockets: list[WebSocket] = []
        console.on("websocket", lambda ws: sockets.append(ws))
        await login(console, h.url, "akeller", totp_of(uri).now())
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()

        visitor_ctx = await browser.new_context()
        visitor = await visitor_ctx.new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await console.get_by_text(re.compile("^Sicherheitsnummer: ")).wait_for()
        await console.evaluate(WATCH)
        await visitor.evaluate(WATCH)

        await visitor_types(visitor, "Hallo, ist da jemand?")
        await console.locator("#log li.them", has_text="Hallo, ist da jemand?").wait_for()
        await visitor.locator("#log li.me small", has_text="zugestellt").wait_for()
        await counsellor_types(console, "Ja, ich bin da.")
        await visitor.locator("#log li.them", has_text="Ja, ich bin da.").wait_for()
        await console.locator("#log li.me small", has_text="zugestellt").wait_for()

        # The counsellor's network goes away; the console's socket with it.
        assert len(sockets) == 1
        await console_ctx.set_offline(True)
        await eventually(lambda: sockets[0].is_closed(), what="the console's socket to close")
        during_v = ["Bist du noch da?", "Ich schreibe trotzdem weiter.", "Drei Nachrichten."]
        during_c = ["Meine Verbindung ist weg.", "Gleich wieder da."]
        for text in during_v:
            await visitor_types(visitor, text)
        for text in during_c:
            await counsellor_types(console, text)
        # The relay has the visitor's messages ("gesendet"), the console cannot show them:
        # nothing may say "zugestellt" yet.
        for text in during_v:
            await visitor.locator("#log li.me", has_text=text).locator(
                "small", has_text=re.compile("^gesendet$")).wait_for()
        assert not set(during_v) & set(await shown(console, "#log li.them"))
        assert not set(during_c) & set(await shown(visitor, "#log li.them"))
        assert await visitor.locator("#log li.me small", has_text="zugestellt").count() == 1

        await console_ctx.set_offline(False)
        await eventually(lambda: len(sockets), until=lambda n: n == 2, timeout=30,
                         what="the console to connect again")
        everything_v = ["Hallo, ist da jemand?", *during_v]
        everything_c = ["Ja, ich bin da.", *during_c]
        await eventually(lambda: shown(console, "#log li.them"),
                         until=lambda got: got == everything_v, timeout=60,
                         what="the visitor's messages in the console, once and in order")
        await eventually(lambda: shown(visitor, "#log li.them"),
                         until=lambda got: got == everything_c, timeout=30,
                         what="the counsellor's messages in the widget, once and in order")
        await eventually(lambda: visitor.locator("#log li.me small", has_text="zugestellt").count(),
                         until=lambda n: n == len(everything_v), timeout=30,
                         what="every visitor line marked zugestellt")
        await eventually(
            lambda: console.locator("#log li.me small", has_text="zugestellt").count(),
            until=lambda n: n == len(everything_c), timeout=30,
            what="every console line marked delivered")

        # Each mark came after the other page displayed that very message.
        for sender, receiver, texts in ((visitor, console, everything_v),
                                        (console, visitor, everything_c)):
            # The console draws its log again now and then: the first time counts.
            seen: dict[str, int] = {}
            for text, at in await receiver.evaluate("window.__seen"):
                seen.setdefault(text, at)
            marked: dict[str, int] = {}
            for text, at in await sender.evaluate("window.__marked"):
                marked.setdefault(text, at)
            for text in texts:
                assert text in seen and text in marked, text
                assert seen[text] <= marked[text], f"{text!r} marked before it was shown"
        await console_ctx.close()
        await visitor_ctx.close()
