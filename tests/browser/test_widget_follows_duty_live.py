"""Duty as visitors see it, in Chromium: a widget opened before duty began offers the chat
without being reopened; signing out of the console, or closing its tab for longer than the
grace, turns open widgets offline and tells waiting and chatting visitors; waiting times
tick in the widget and the console.

The widgets that wait for their availability check run on Playwright's clock, moved forward
instead of waiting 20 s; the server's grace is real time (one second here)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.browser import PASSWORD, chromium, login, widget_server
from tests.support.e2e_clients import E2ECounsellor, Pki
from tests.support.harness import Harness, totp_of
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

GRACE = 1.0
# Longer than the widget's availability interval (20-25 s) on its moved clock.
NEXT_CHECK_MS = 26_000
OFFLINE = "Gerade ist niemand im Dienst."
REQUEUED = re.compile("musste das Gespräch verlassen. Jemand anderes aus dem Team übernimmt")
NOBODY = re.compile("Im Moment ist niemand im Dienst. Du kannst warten")


async def widget_on_a_clock(browser: Browser, h: Harness) -> tuple[BrowserContext, Page]:
    """A widget whose timers the test moves forward."""
    context = await browser.new_context()
    await context.clock.install()
    page = await context.new_page()
    await page.goto(h.url + "/widget/frame")
    await page.get_by_text("Anonym chatten").first.wait_for()
    return context, page


async def shows_offline(context: BrowserContext, page: Page) -> bool:
    """Let the widget's next availability check run, then look."""
    await context.clock.fast_forward(NEXT_CHECK_MS)
    return await page.get_by_text(OFFLINE).is_visible() and \
        await page.get_by_role("button", name="Chat beginnen").is_disabled()


async def console_on_duty(browser: Browser, h: Harness) -> Page:
    uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
    console = await (await browser.new_context()).new_page()
    await login(console, h.url, "akeller", totp_of(uri).now())
    await console.get_by_role("button", name="Dienst beginnen").click()
    await console.get_by_text("Im Dienst").wait_for()
    return console


async def chatting_with_the_console(browser: Browser, h: Harness, console: Page) -> Page:
    visitor = await (await browser.new_context()).new_page()
    await visitor.goto(h.url + "/widget/frame")
    await visitor.get_by_role("button", name="Chat beginnen").click()
    await console.get_by_role("button", name="Annehmen").click()
    await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
    return visitor


async def test_a_widget_opened_before_duty_turns_available_and_its_estimate_ticks(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, duty_grace_s=GRACE,
                             wait_estimate_per_position_s=100.0) as h, \
            chromium() as browser:
        context, widget = await widget_on_a_clock(browser, h)
        start = widget.get_by_role("button", name="Chat beginnen")
        await widget.get_by_text(OFFLINE).wait_for()
        await expect(start).to_be_disabled()

        anna = E2ECounsellor(await h.counsellor("anna", "Anna"), pki.identity("Anna"))
        await context.clock.fast_forward(NEXT_CHECK_MS)
        await expect(start).to_be_enabled()
        await widget.get_by_text(OFFLINE).wait_for(state="hidden")

        await start.click()
        # Nobody has been accepted yet: the configured guess, 100 s for one counsellor.
        await widget.get_by_text("Du bist auf Platz 1. Geschätzte Wartezeit: etwa 2 Minuten."
                                 ).wait_for()
        # Fifteen seconds later on the widget's clock, without any word from the server, the
        # estimate has counted down (85 s: about one minute).
        now_ms = await widget.evaluate("Date.now()")
        await context.clock.set_system_time((now_ms + 15_000) / 1000)  # in seconds
        await widget.get_by_text("Geschätzte Wartezeit: etwa eine Minute.").wait_for()
        # Back again: socket.io-client measures its ping timeout on the same clock, and the
        # handshake below must not find the connection timed out.
        await context.clock.set_system_time(now_ms / 1000)
        queue = (await anna.raw.sync())["queue"]
        await anna.accept(queue[0]["chat_id"])
        await widget.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()


async def test_signing_out_on_duty_tells_visitors_and_turns_widgets_offline(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True,
                             duty_grace_s=GRACE) as h, chromium() as browser:
        console = await console_on_duty(browser, h)
        chatting = await chatting_with_the_console(browser, h, console)
        waiting = await (await browser.new_context()).new_page()
        await waiting.goto(h.url + "/widget/frame")
        await waiting.get_by_role("button", name="Chat beginnen").click()
        await waiting.get_by_text("Du bist auf Platz 1").wait_for()
        # The console's queue counts the waiting time up, second by second.
        await console.locator("#queue").get_by_text(re.compile(r"wartet 0:0[2-9]")).wait_for()
        context, idle = await widget_on_a_clock(browser, h)
        await expect(idle.get_by_role("button", name="Chat beginnen")).to_be_enabled()

        await console.get_by_role("button", name="Abmelden").click()
        await console.get_by_role("heading", name="Anmeldung").wait_for()

        # At once: the chatting visitor hears that a colleague will take over, first in line.
        await chatting.get_by_text(REQUEUED).first.wait_for()
        await chatting.get_by_text("Du bist auf Platz 1.").wait_for()
        await chatting.get_by_text(NOBODY).wait_for()
        await expect(chatting.get_by_label("Nachricht", exact=True)).to_be_disabled()
        # The waiting visitor moved down one place and learns that nobody is on duty.
        await waiting.get_by_text("Du bist auf Platz 2.").wait_for()
        await waiting.get_by_text(NOBODY).wait_for()
        # The open widget stops offering a chat at its next check.
        await eventually(lambda: shows_offline(context, idle), interval=0.2,
                         what="the idle widget to turn offline")


async def test_a_closed_console_tab_ends_duty_after_the_grace(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True,
                             duty_grace_s=GRACE) as h, chromium() as browser:
        console = await console_on_duty(browser, h)
        chatting = await chatting_with_the_console(browser, h, console)
        context, idle = await widget_on_a_clock(browser, h)
        await expect(idle.get_by_role("button", name="Chat beginnen")).to_be_enabled()

        await console.close()
        await chatting.get_by_text(REQUEUED).first.wait_for()
        await chatting.get_by_text(NOBODY).wait_for()
        await eventually(lambda: shows_offline(context, idle), interval=0.2,
                         what="the idle widget to turn offline after the grace")
