"""The widget and the console chat in Chromium; the counsellor reloads the console page
mid-chat. The chat's history and its safety number are still shown, the visitor's next message
appears in the console (and says "zugestellt" only after it did), the counsellor's reply
reaches the visitor, and nothing of it sits in Web Storage. Ending the chat wipes what was
kept for the reload."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from playwright.async_api import Page, WebSocketRoute

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.browser import PASSWORD, WATCH, chromium, login, widget_server
from tests.support.e2e_clients import Pki
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

# A socket.io event "ack" from the page (in its namespace, with an acknowledgement id).
ACK = re.compile(r'^42(/[^,]*,)?\d*\["ack"')

# The number of chats the console keeps for a reload (its IndexedDB store).
KEPT = """() => new Promise((resolve, reject) => {
  const req = indexedDB.open("erstkontakt-console-reload", 1);
  req.onerror = () => reject(req.error);
  req.onsuccess = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains("records")) { db.close(); resolve(0); return; }
    const count = db.transaction("records").objectStore("records").count();
    count.onsuccess = () => { db.close(); resolve(count.result); };
  };
})"""


def totp_of(uri: str) -> pyotp.TOTP:
    return pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0])


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


async def first_times(page: Page, what: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for text, at in await page.evaluate(what):
        out.setdefault(text, at)
    return out


async def test_console_reload_mid_chat_keeps_history_session_and_delivery(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        console_ctx = await browser.new_context()
        console = await console_ctx.new_page()
        await login(console, h.url, "akeller", totp_of(uri).now())
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()

        visitor_ctx = await browser.new_context()
        visitor = await visitor_ctx.new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        safety = console.locator("#safety")
        await safety.get_by_text(re.compile("Sicherheitsnummer")).wait_for()
        number = await safety.text_content()

        await visitor_types(visitor, "Hallo, ist da jemand?")
        await console.locator("#log li.them", has_text="Hallo, ist da jemand?").wait_for()
        await visitor.locator("#log li.me small", has_text="zugestellt").wait_for()
        await counsellor_types(console, "Ja, ich bin da.")
        await visitor.locator("#log li.them", has_text="Ja, ich bin da.").wait_for()
        await console.locator("#log li.me small", has_text="zugestellt").wait_for()

        await console.reload()
        # History, marks and safety number are back.
        await console.locator("#log li.them", has_text="Hallo, ist da jemand?").wait_for()
        await console.locator("#log li.me", has_text="Ja, ich bin da.").locator(
            "small", has_text="zugestellt").wait_for()
        await safety.get_by_text(re.compile("Sicherheitsnummer")).wait_for()
        assert await safety.text_content() == number
        assert await shown(console, "#log li.them") == ["Hallo, ist da jemand?"]
        assert await shown(console, "#log li.me") == ["Ja, ich bin da."]
        # Nothing in Web Storage at all: the console's keys are in memory and, for the session,
        # in IndexedDB under a key nobody can read out.
        assert await console.evaluate("localStorage.length") == 0
        assert await console.evaluate("Object.keys(sessionStorage)") == []
        assert await console.evaluate(KEPT) == 1

        await console.evaluate(WATCH)
        await visitor.evaluate(WATCH)
        await visitor_types(visitor, "Nach dem Neuladen?")
        await console.locator("#log li.them", has_text="Nach dem Neuladen?").wait_for()
        await visitor.locator("#log li.me", has_text="Nach dem Neuladen?").locator(
            "small", has_text="zugestellt").wait_for()
        await counsellor_types(console, "Ja, alles noch da.")
        await visitor.locator("#log li.them", has_text="Ja, alles noch da.").wait_for()
        await console.locator("#log li.me", has_text="Ja, alles noch da.").locator(
            "small", has_text="zugestellt").wait_for()

        assert await shown(console, "#log li.them") == ["Hallo, ist da jemand?",
                                                        "Nach dem Neuladen?"]
        assert await shown(visitor, "#log li.them") == ["Ja, ich bin da.", "Ja, alles noch da."]
        assert not await console.locator("#log li.info", has_text="nicht lesbar").count()
        assert not await visitor.get_by_text("kann nicht bestätigt werden").count()
        # Each "zugestellt" came after the other page displayed that very message.
        for sender, receiver, text in ((visitor, console, "Nach dem Neuladen?"),
                                       (console, visitor, "Ja, alles noch da.")):
            seen = await first_times(receiver, "window.__seen")
            marked = await first_times(sender, "window.__marked")
            assert text in seen and text in marked, text
            assert seen[text] <= marked[text], f"{text!r} marked before it was shown"

        # A message on its way while the console reloads is shown once, before or after.
        await asyncio.gather(console.reload(), visitor_types(visitor, "Während des Neuladens"))
        everything = ["Hallo, ist da jemand?", "Nach dem Neuladen?", "Während des Neuladens"]
        await eventually(lambda: shown(console, "#log li.them"),
                         until=lambda got: got == everything, timeout=30,
                         what="the message sent during the reload, once, after the others")
        await visitor.locator("#log li.me", has_text="Während des Neuladens").locator(
            "small", has_text="zugestellt").wait_for()
        await safety.get_by_text(number or "").wait_for()

        # The end of the chat takes what was kept for a reload with it.
        await console.get_by_role("button", name="Chat beenden", exact=True).click()
        await console.get_by_role("button", name="Ja, Chat beenden").click()
        await eventually(lambda: console.evaluate(KEPT), until=lambda n: n == 0,
                         what="the chat's reload state to be wiped")
        await console_ctx.close()
        await visitor_ctx.close()


async def test_signing_out_of_the_console_wipes_what_was_kept_for_a_reload(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        console_ctx = await browser.new_context()
        console = await console_ctx.new_page()
        await login(console, h.url, "akeller", totp_of(uri).now())
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()
        visitor_ctx = await browser.new_context()
        visitor = await visitor_ctx.new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await visitor_types(visitor, "Bitte nicht aufheben.")
        await console.locator("#log li.them", has_text="Bitte nicht aufheben.").wait_for()
        await eventually(lambda: console.evaluate(KEPT), until=lambda n: n == 1,
                         what="the chat kept for a reload")

        await console.get_by_role("button", name="Abmelden").click()
        await console.get_by_label("Einmalcode").wait_for()
        names = await console.evaluate(
            "async () => (await indexedDB.databases()).map((d) => d.name)")
        assert "erstkontakt-console-reload" not in names
        await console_ctx.close()
        await visitor_ctx.close()


# Changes every record the console kept: makes it 13 hours old, or flips a byte of its ciphertext.
AGE_OR_TAMPER = """(how) => new Promise((resolve, reject) => {
  const req = indexedDB.open("erstkontakt-console-reload", 1);
  req.onerror = () => reject(req.error);
  req.onsuccess = () => {
    const db = req.result;
    const os = db.transaction("records", "readwrite").objectStore("records");
    const keys = os.getAllKeys();
    keys.onsuccess = () => {
      for (const id of keys.result) {
        const get = os.get(id);
        get.onsuccess = () => {
          const r = get.result;
          if (how === "age") r.at -= 13 * 3600 * 1000;
          else { const b = new Uint8Array(r.ct); b[0] ^= 1; r.ct = b.buffer; }
          os.put(r, id);
        };
      }
      os.transaction.oncomplete = () => { db.close(); resolve(keys.result.length); };
    };
  };
})"""


@pytest.mark.parametrize("how", ["age", "tamper"])
async def test_reload_state_left_idle_for_12_hours_or_changed_is_not_restored(
    make_config: Callable[..., Config], tmp_path: Path, how: str
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        console_ctx = await browser.new_context()
        console = await console_ctx.new_page()
        await login(console, h.url, "akeller", totp_of(uri).now())
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()
        visitor_ctx = await browser.new_context()
        visitor = await visitor_ctx.new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await visitor_types(visitor, "Das bleibt nicht liegen.")
        await console.locator("#log li.them", has_text="Das bleibt nicht liegen.").wait_for()
        await eventually(lambda: console.evaluate(KEPT), until=lambda n: n == 1,
                         what="the chat kept for a reload")

        assert await console.evaluate(AGE_OR_TAMPER, how) == 1
        await console.reload()
        # The server still lists the chat: its tab comes back, its lines and session do not.
        await console.locator("#chat").wait_for()
        assert await shown(console, "#log li.them") == []
        assert await console.locator("#safety").text_content() == ""
        assert await console.evaluate(KEPT) == 0
        await console_ctx.close()
        await visitor_ctx.close()


async def test_a_reply_sent_before_the_console_reloads_is_marked_delivered_after_it(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        console_ctx = await browser.new_context()
        console = await console_ctx.new_page()
        await login(console, h.url, "akeller", totp_of(uri).now())
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()
        visitor_ctx = await browser.new_context()
        visitor = await visitor_ctx.new_page()
        # The widget's acknowledgements can be held back on their way to the server.
        holding = {"acks": False}
        held: list[str] = []

        def relay_socket(ws: WebSocketRoute) -> None:
            server = ws.connect_to_server()

            def from_page(message: str | bytes) -> None:
                if holding["acks"] and isinstance(message, str) and ACK.match(message):
                    held.append(message)
                    return
                server.send(message)

            ws.on_message(from_page)
            server.on_message(ws.send)

        await visitor.route_web_socket(re.compile(".*"), relay_socket)
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()

        holding["acks"] = True
        await counsellor_types(console, "Bist du noch da?")
        await visitor.locator("#log li.them", has_text="Bist du noch da?").wait_for()
        await eventually(lambda: len(held), until=lambda n: n >= 1,
                         what="the widget's acknowledgement to be held back")
        line = console.locator("#log li.me", has_text="Bist du noch da?")
        await line.locator("small", has_text="gesendet").wait_for()
        await console.reload()
        await line.locator("small", has_text="gesendet").wait_for()
        assert not await line.locator("small", has_text="zugestellt").count()

        # The widget asks again; this time its acknowledgement gets through.
        holding["acks"] = False
        await line.locator("small", has_text="zugestellt").wait_for()
        assert await shown(visitor, "#log li.them") == ["Bist du noch da?"]
        await console_ctx.close()
        await visitor_ctx.close()
