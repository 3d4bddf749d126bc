"""axe-core finds nothing, of any impact, on every view of the console as it is used: the sign-in
page, the workspace with an open chat (and its shortcuts help), a case record open, an
anonymous message open, the canned replies, the team view and the audit trail; at 1280×800
and at 200 % zoom."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.browser import (
    PASSWORD,
    chromium,
    login,
    show_view,
    violations_under_csp,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of

pytestmark = pytest.mark.browser


async def clean(page: Page, view: str) -> None:
    assert await violations_under_csp(page) == [], view


@pytest.mark.parametrize(("width", "height", "scale"), [(1280, 800, 1), (640, 400, 2)],
                         ids=["1280x800", "200%"])
async def test_every_console_view_passes_axe(
    make_config: Callable[..., Config], tmp_path: Path, width: int, height: int, scale: int
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        # An administrator chats too, and reads the team view and the audit trail.
        uri = await h.app[USERS].add("akeller", "admin", PASSWORD, pseudonym="Anna")
        console = await (await browser.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=scale)).new_page()
        await console.goto(h.url + "/console/login")
        await clean(console, "sign-in")
        await login(console, h.url, "akeller", totp_of(uri).now())
        await console.get_by_text("Aktenschlüssel entsperrt").wait_for()

        # An anonymous message, left while nobody is on duty.
        dropper = await (await browser.new_context()).new_page()
        await dropper.goto(h.url + "/widget/frame")
        await dropper.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(
            "Wie spreche ich meinen Bruder an?")
        await dropper.get_by_role("button", name="Nachricht hinterlassen").click()
        await dropper.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()

        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()
        await clean(console, "workspace, no chat")
        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await console.locator("#queue li").wait_for()
        await clean(console, "workspace, a request waiting")
        await console.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await visitor.get_by_label("Nachricht", exact=True).fill("Hallo?")
        await visitor.get_by_role("button", name="Senden").click()
        await console.locator("#log li.them").wait_for()
        await console.get_by_label("Nachricht", exact=True).fill("Hallo, ich bin da.")
        await console.get_by_role("button", name="Senden").click()
        await console.get_by_role("button", name="Einwilligung erfragen").click()
        await visitor.get_by_role("button", name="Ja, einverstanden").click()
        await console.get_by_text("Einwilligung: ja").wait_for()
        await clean(console, "workspace, a chat open")
        await console.get_by_role("button", name="Akte anlegen").click()
        await console.get_by_text("Akte gespeichert").wait_for()

        await console.get_by_role("button", name="Tastenkürzel").click()
        await expect(console.get_by_role("dialog", name="Tastenkürzel")
                     ).to_be_visible()
        await clean(console, "shortcuts")
        await console.keyboard.press("Escape")
        await console.get_by_role("button", name="Chat beenden", exact=True).click()
        await expect(console.get_by_role("dialog", name="Chat beenden?")
                     ).to_be_visible()
        await clean(console, "end, asking first")
        await console.keyboard.press("Escape")

        await show_view(console, "Fallakten")
        await console.get_by_role("button", name="Akten laden").click()
        await console.get_by_role("button", name="Öffnen", exact=True).click()
        await console.locator("#record-view").wait_for()
        await clean(console, "records, one open")

        await show_view(console, "Anonyme Nachrichten")
        await console.get_by_role("button", name="Nachrichten laden").click()
        await console.get_by_role("button", name="Lesen").click()
        await console.get_by_text("Wie spreche ich meinen Bruder an?").wait_for()
        await clean(console, "anonymous messages, one open")

        await show_view(console, "Textbausteine")
        await console.get_by_label("Titel").fill("Begrüßung")
        await console.get_by_label("Text", exact=True).fill("Schön, dass du schreibst.")
        await console.get_by_role("button", name="Anlegen", exact=True).click()
        await console.locator("#canned-list li").wait_for()
        await clean(console, "canned replies")

        await console.get_by_role("link", name="Team").click()
        await console.get_by_role("heading", name="Team").wait_for()
        await clean(console, "team")
        await console.goto(h.url + "/console/audit")
        await console.get_by_role("heading", name="Protokoll").wait_for()
        await clean(console, "audit trail")
