"""A second ``make run`` on the same ``var/``, in Chromium: the demo counsellor's console,
reloaded after the restart or signed in anew with the same password (and the key passphrase
chosen at the first sign-in), still unlocks the records key and reads the case record and the
anonymous message stored before it."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import nacl.secret
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page

from chatserver import crypto
from chatserver.admin import demo
from chatserver.config import Config
from chatserver.main import create_app
from chatserver.web.appkeys import RECORDS, USERS
from tests.support.browser import chromium, show_view, unlock
from tests.support.harness import totp_of
from tests.support.redis_server import free_port

pytestmark = pytest.mark.browser

RECORD_LINE = "KANARIE-akte-vor-dem-neustart"
DROP_TEXT = "KANARIE-nachricht-vor-dem-neustart"
UNLOCKED = "Aktenschlüssel entsperrt"


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[TestServer]:
    """One start of the demo server on the configured port."""
    server = TestServer(create_app(config), host="127.0.0.1", port=config.port)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


async def sign_in(page: Page, url: str, password: str, code: str) -> None:
    await page.goto(url + "/console/login")
    await page.get_by_label("Name").fill("demo")
    await page.get_by_label("Passwort").fill(password)
    await page.get_by_label("Einmalcode").fill(code)
    await page.get_by_role("button", name="Anmelden").click()
    # The key passphrase the person trying the demo chose at the first sign-in.
    await unlock(page)


async def read_record_and_message(page: Page) -> None:
    await show_view(page, "Fallakten")
    await page.get_by_role("button", name="Akten laden").click()
    await page.get_by_text(UNLOCKED).wait_for()
    await page.get_by_role("button", name="Öffnen", exact=True).click()
    await page.locator("#record-view").get_by_text(re.compile(RECORD_LINE)).wait_for()
    await show_view(page, "Anonyme Nachrichten")
    await page.get_by_role("button", name="Nachrichten laden").click()
    await page.get_by_role("button", name="Lesen").click()
    await page.get_by_text(DROP_TEXT).wait_for()


async def test_console_reads_records_and_messages_after_a_restart(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    config = demo.prepare(make_config(demo=True, port=port, public_origins=(origin,),
                                      embed_origins=(origin,), exit_url=origin + "/healthz"))
    async with chromium() as browser:
        async with running(config) as server:
            password = json.loads((demo.demo_dir(config) / demo.PASSWORDS_FILE).read_text())[
                "demo"]
            totp = totp_of(await server.app[USERS].totp_uri("demo"))
            console_ctx = await browser.new_context()
            console = await console_ctx.new_page()
            await sign_in(console, origin, password, totp.now())
            # The first counsellor makes the team's records key.
            await console.get_by_text(UNLOCKED).wait_for()

            # A case record sealed to the team's key, as a hand-off stores it.
            team_pk = crypto.b64decode(await server.app[RECORDS].keyring.records_public_key())
            key = os.urandom(32)
            body = {"consent_version": "v2", "entry": "exit",
                    "transcript": [["them", RECORD_LINE]]}
            sealed = nacl.secret.SecretBox(key).encrypt(json.dumps(body).encode())
            await server.app[RECORDS].create("someone", "v1", crypto.b64encode(
                crypto.seal(team_pk, key)), crypto.b64encode(bytes(sealed)), time.time())
            # An anonymous message from the widget (nobody is on duty).
            visitor = await (await browser.new_context()).new_page()
            await visitor.goto(origin + "/widget/frame")
            await visitor.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(
                DROP_TEXT)
            await visitor.get_by_role("button", name="Nachricht hinterlassen").click()
            await visitor.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()
            await read_record_and_message(console)

        # The second start, on the same directory and port.
        async with running(config):
            await console.reload()
            await console.get_by_text(UNLOCKED).wait_for()
            await read_record_and_message(console)
            # Signed in anew in another browser, with the password printed at the first start.
            fresh = await (await browser.new_context()).new_page()
            await sign_in(fresh, origin, password, totp.at(time.time() + 30))
            await fresh.get_by_text(UNLOCKED).wait_for()
            await read_record_and_message(fresh)
            assert "Warte auf Freigabe" not in (await fresh.locator("#keyring").text_content()
                                                or "")
