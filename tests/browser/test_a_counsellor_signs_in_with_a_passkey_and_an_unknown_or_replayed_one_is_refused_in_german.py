"""A counsellor registers a passkey on the account page (after password and one-time code),
signs out and signs in with it instead of the code, and the same passkey unlocks the console's
keys (PRF, in the browser). A replayed sign-in is refused in German, and once she removed the
passkey it signs nobody in, said in German too (Chromium's DevTools virtual authenticator)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from playwright.async_api import Page

from chatserver.config import Config
from chatserver.records.schema import key_wraps, passkeys
from chatserver.web.appkeys import USERS
from tests.support.browser import (
    PASSWORD,
    chromium,
    login,
    serious_violations_under_csp,
    virtual_authenticator,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of

pytestmark = pytest.mark.browser

UNLOCKED = "Aktenschlüssel entsperrt"
WITH_PASSKEY = "Passkey statt Einmalcode"
REPLAYED = "Diese Passkey-Bestätigung ist abgelaufen oder wurde schon verwendet"
UNKNOWN = "Dieser Passkey ist hier nicht (mehr) für die Anmeldung registriert"


async def identity_of(page: Page) -> str:
    text = await page.locator("#identity").text_content() or ""
    found = re.search(r"Identitätsschlüssel: (\S+)", text)
    assert found, text
    return found.group(1)


async def stored(h: Harness) -> tuple[list[Any], list[str]]:
    """The account's passkeys and the credentials its PRF key wraps name."""
    user = await h.app[USERS].find("akeller")
    assert user is not None
    async with h.app[USERS].engine.connect() as conn:
        keys = list(await conn.execute(sa.select(passkeys)
                                       .where(passkeys.c.user_id == user.id)))
        blobs = [json.loads(r.blob) for r in await conn.execute(
            sa.select(key_wraps.c.blob).where(key_wraps.c.user_id == user.id))]
    return keys, [b["cred"] for b in blobs if b.get("kdf") == "webauthn-prf"]


async def sign_in_with_passkey(page: Page, url: str) -> None:
    await page.goto(url + "/console/login")
    await page.get_by_role("button", name=WITH_PASSKEY).wait_for()
    assert await serious_violations_under_csp(page) == []
    await page.get_by_label("Name").fill("akeller")
    await page.get_by_label("Passwort").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name=WITH_PASSKEY).click()


async def test_a_counsellor_signs_in_with_a_passkey_and_a_replayed_or_removed_one_is_refused(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), host="localhost", demo=True) as h, \
            chromium() as browser:
        totp = totp_of(await h.app[USERS].add("akeller", "counsellor", PASSWORD,
                                              pseudonym="Anna"))
        context = await browser.new_context()
        sign_ins: list[dict[str, list[str]]] = []

        def note(request: Any) -> None:
            if request.method == "POST" and request.url.endswith("/console/login"):
                sign_ins.append(parse_qs(request.post_data or ""))
        context.on("request", note)
        page = await context.new_page()
        await virtual_authenticator(page)

        # Signed in with the one-time code; the keys set up with the key passphrase.
        await login(page, h.url, "akeller", totp.now())
        await page.get_by_text(UNLOCKED).wait_for()
        first = await identity_of(page)

        # The account page: a passkey, after password and a fresh one-time code.
        await page.get_by_role("link", name="Konto").click()
        await page.get_by_text("Noch keiner").wait_for()
        assert await serious_violations_under_csp(page) == []
        await page.get_by_label(re.compile("^Bezeichnung")).fill("Laptop Büro")
        await page.get_by_label("Passwort").fill(PASSWORD)
        await page.get_by_label("Einmalcode").fill(totp.at(time.time() + 30))
        await page.get_by_role("button", name="Passkey registrieren").click()
        await page.get_by_text(re.compile("Passkey registriert; er entsperrt auch Ihre "
                                          "Schlüssel")).wait_for()
        await page.locator("#passkeys").get_by_text("Laptop Büro").wait_for()
        keys, prf_creds = await stored(h)
        assert len(keys) == 1 and prf_creds == [keys[0].id]

        # Signed out and in again: name, password and the passkey, no code.
        async with page.expect_navigation():
            await page.get_by_role("button", name="Abmelden").click()
        await sign_in_with_passkey(page, h.url)
        assert page.url == h.url + "/console/"
        # The same passkey opens the keys in this browser.
        await page.get_by_role("button", name="Mit Passkey entsperren") \
            .click()
        await page.get_by_text(UNLOCKED).wait_for()
        assert await identity_of(page) == first
        sent = [s for s in sign_ins if s.get("assertion")]
        assert len(sent) == 1 and sent[0].get("totp", [""]) == [""]
        answer = json.loads(sent[0]["assertion"][0])
        assert answer["clientExtensionResults"] == {}  # nothing of the PRF goes with it
        used = (await stored(h))[0][0]
        assert used.last_used is not None

        # Someone who saw that sign-in sends it again from another browser: refused.
        other = await (await browser.new_context()).new_page()
        await other.goto(h.url + "/console/login")
        async with other.expect_navigation():
            await other.evaluate("""([password, attempt, assertion]) => {
              const form = document.getElementById("login");
              form.elements.name.value = "akeller";
              form.elements.password.value = password;
              form.elements.attempt.value = attempt;
              form.elements.assertion.value = assertion;
              form.submit();
            }""", [PASSWORD, sent[0]["attempt"][0], sent[0]["assertion"][0]])
        await other.get_by_text(REPLAYED).wait_for()
        assert other.url.endswith("/console/login")

        # She removes the passkey; afterwards it signs nobody in.
        await page.goto(h.url + "/console/account")
        await page.get_by_role("button", name="Entfernen").click()
        await page.get_by_text("Passkey entfernt").wait_for()
        assert (await stored(h))[0] == []
        async with page.expect_navigation():
            await page.get_by_role("button", name="Abmelden").click()
        await sign_in_with_passkey(page, h.url)
        await page.get_by_text(UNKNOWN).wait_for()
        assert page.url.endswith("/console/login")
