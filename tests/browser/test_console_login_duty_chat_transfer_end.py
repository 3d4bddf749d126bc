"""The console in Chromium: password + TOTP login, duty, a widget chat, canned reply,
transfer to a colleague, end; and the refusals around login, CSRF, roles and logout."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import WebSocket

from chatserver import crypto
from chatserver.admin import demo
from chatserver.config import Config
from chatserver.web.appkeys import CONFIG, USERS
from tests.support.browser import (
    PASSWORD,
    chromium,
    login,
    serious_violations,
    show_view,
    widget_server,
)
from tests.support.e2e_clients import E2ECounsellor, Identity, Pki
from tests.support.harness import Harness, totp_of

pytestmark = pytest.mark.browser

CANARY_V = "KANARIE-besucher-console-1"
CANARY_C = "KANARIE-konsole-antwort-2"


async def test_console_runs_a_whole_chat_with_the_widget(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        # Demo mode certifies the console's key; Ben gets a certificate from the same org key.
        ben_key = crypto.SigningSeed.generate()
        ben_cert = demo.certify(h.app[CONFIG], ben_key.public_key, "Ben")
        ben = E2ECounsellor(await h.counsellor("ben", "Ben"), Identity(ben_key, ben_cert))

        frames: list[str] = []

        def record(ws: WebSocket) -> None:
            ws.on("framesent", lambda p: frames.append(str(p)))
            ws.on("framereceived", lambda p: frames.append(str(p)))

        console_ctx = await browser.new_context()
        console = await console_ctx.new_page()
        console.on("websocket", record)
        await login(console, h.url, "akeller", totp_of(uri).now())
        await show_view(console, "Textbausteine")
        await console.get_by_label("Titel").fill("Begrüßung")
        await console.get_by_label("Text", exact=True).fill("Schön, dass du dich meldest.")
        await console.get_by_role("button", name="Anlegen", exact=True).click()
        await console.get_by_text("Textbaustein angelegt").wait_for()
        assert [c["title"] for c in await h.app[USERS].canned()] == ["Begrüßung"]
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()

        visitor_ctx = await browser.new_context()
        visitor = await visitor_ctx.new_page()
        visitor.on("websocket", record)
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await console.get_by_text(re.compile("^Sicherheitsnummer: ")).wait_for()

        await visitor.get_by_label("Nachricht", exact=True).fill(CANARY_V)
        await visitor.get_by_role("button", name="Senden").click()
        await console.get_by_text(CANARY_V).wait_for()
        await console.get_by_label("Textbaustein", exact=True).select_option(
            label="Begrüßung")
        await console.get_by_role("button", name="Senden").click()
        await visitor.get_by_text("Schön, dass du dich meldest.").wait_for()
        await console.get_by_label("Nachricht", exact=True).fill(CANARY_C)
        await console.get_by_role("button", name="Senden").click()
        await visitor.get_by_text(CANARY_C).wait_for()

        # Transfer to Ben (a Python counsellor with his own certificate): a fresh handshake.
        await console.get_by_label("Übergeben an").select_option(label="Ben")
        await console.get_by_label("Notiz zur Übergabe").fill(
            "KANARIE-notiz-7")
        await console.get_by_role("button", name="Übergeben").click()
        assigned = await ben.raw.expect("assigned")
        # The note travels sealed to the team's records key, never in plaintext.
        assert assigned["note"] and "KANARIE-notiz-7" not in assigned["note"]
        chat_id = assigned["chat"]["chat_id"]
        ben.raw.adopt(assigned["chat"])
        await ben.handshake(chat_id)
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Ben")).wait_for()
        await ben.send_text(chat_id, "Hallo, hier ist Ben.")
        await visitor.get_by_text("Hallo, hier ist Ben.").wait_for()
        assert (await ben.raw.end(chat_id))["ok"]
        await visitor.get_by_text("Der Chat ist beendet").wait_for()

        assert frames
        for frame in frames:
            assert CANARY_V not in frame and CANARY_C not in frame
        await check_console_accessibility(browser, h, uri)
        await console_ctx.close()
        await visitor_ctx.close()


async def check_console_accessibility(browser: object, h: Harness, uri: str) -> None:
    ctx = await browser.new_context(bypass_csp=True)  # type: ignore[attr-defined]
    page = await ctx.new_page()
    await page.goto(h.url + "/console/login")
    assert await serious_violations(page) == []
    await ctx.close()


async def test_refusals_wrong_password_replayed_totp_csrf_logout_and_roles(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki) as h, chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        sue_uri = await h.app[USERS].add("sschulz", "supervisor", PASSWORD, pseudonym="Frau Sommer")
        ctx = await browser.new_context()
        page = await ctx.new_page()

        await page.goto(h.url + "/console/login")
        await page.get_by_label("Name").fill("akeller")
        await page.get_by_label("Passwort").fill("falsch-falsch-falsch")
        await page.get_by_label("Einmalcode").fill(totp_of(uri).now())
        await page.get_by_role("button", name="Anmelden").click()
        await page.get_by_text("Anmeldung fehlgeschlagen").wait_for()

        code = totp_of(uri).now()
        await login(page, h.url, "akeller", code)
        await page.get_by_role("heading", name="Beratungskonsole").wait_for()
        cookies = {c["name"]: c for c in await ctx.cookies()}
        assert cookies["ek_console"]["httpOnly"] and cookies["ek_console"]["sameSite"] == "Strict"

        # The same TOTP code a second time is refused, even with the right password.
        other = await browser.new_context()
        replay = await other.new_page()
        await login(replay, h.url, "akeller", code)
        await replay.get_by_text("Anmeldung fehlgeschlagen").wait_for()
        await other.close()

        session = cookies["ek_console"]["value"]
        # No CSRF token: no socket token.
        async with aiohttp.ClientSession(cookies={"ek_console": session}) as http, \
                http.post(h.url + "/console/api/socket-token", json={}) as resp:
            assert resp.status == 403
        # Log out through the page; the old session cookie is worthless afterwards.
        await page.get_by_role("button", name="Abmelden").click()
        await page.get_by_role("heading", name="Anmeldung").wait_for()
        async with aiohttp.ClientSession(cookies={"ek_console": session}) as http:
            async with http.get(h.url + "/console/", allow_redirects=False) as resp:
                assert resp.status == 303
            async with http.post(h.url + "/console/api/socket-token",
                                 headers={"X-CSRF-Token": "x"}, json={}) as resp:
                assert resp.status == 401

        # A supervisor signs in, lands on the statistics and gets no chat UI and no socket
        # token.
        await login(page, h.url, "sschulz", totp_of(sue_uri).now())
        await page.get_by_role("heading", name="Statistik").wait_for()
        assert page.url.endswith("/console/stats")
        assert await page.locator("#console").count() == 0
        sue = {c["name"]: c["value"] for c in await ctx.cookies()}["ek_console"]
        html = await page.content()
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf is not None
        async with aiohttp.ClientSession(cookies={"ek_console": sue}) as http, \
                http.post(h.url + "/console/api/socket-token",
                          headers={"X-CSRF-Token": csrf.group(1)}, json={}) as resp:
            assert resp.status == 403
        await ctx.close()


async def test_production_path_offline_certificate_for_the_persistent_identity_key(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    """Outside demo mode: the console shows its identity key, the admin certifies it offline,
    installs the certificate, and after a reload the visitor verifies the counsellor."""
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki) as h, chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        console = await (await browser.new_context()).new_page()
        await login(console, h.url, "akeller", totp_of(uri).now())
        shown = console.locator("#identity")
        await shown.get_by_text(re.compile("noch nicht zertifiziert")).wait_for()
        key_b64 = re.search(r"Identitätsschlüssel: (\S+)", await shown.text_content() or "")
        assert key_b64 is not None
        cert = crypto.issue_certificate(pki.org, crypto.b64decode(key_b64.group(1)), "Anna",
                                        pki.now - 60, pki.now + 86400)
        await h.app[USERS].set_certificate("akeller", json.dumps(cert))
        await console.reload()
        await console.locator("#identity").get_by_text(re.compile("Identitätsschlüssel")).wait_for()
        assert "nicht zertifiziert" not in (await console.locator("#identity").text_content()
                                            or "")
        await console.get_by_role("button", name="Dienst beginnen").click()
        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
