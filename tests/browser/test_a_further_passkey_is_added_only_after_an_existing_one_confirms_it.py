"""Adding a further passkey on the account page (Chromium, DevTools virtual authenticators):
once the account has a passkey the form asks for the password and one of its passkeys, no
longer the one-time code; the page asks the registered passkey first (the server names exactly
the account's passkeys), and only then is the new one, on another authenticator, registered.
Cancelled, nothing is registered."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.async_api import CDPSession, Page, Route

from chatserver.config import Config
from chatserver.records.schema import passkeys
from chatserver.web.appkeys import USERS
from tests.support.browser import PASSWORD, chromium, login, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of

pytestmark = pytest.mark.browser

REGISTERED = re.compile("^Passkey registriert")


async def add_authenticator(cdp: CDPSession, transport: str) -> str:
    done = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": transport, "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "hasPrf": True}})
    return str(done["authenticatorId"])


async def labels(h: Harness) -> list[str]:
    user = await h.app[USERS].find("akeller")
    assert user is not None
    async with h.app[USERS].engine.connect() as conn:
        return [r.label for r in await conn.execute(
            sa.select(passkeys.c.label).where(passkeys.c.user_id == user.id)
            .order_by(passkeys.c.created))]


async def register(page: Page, label: str) -> None:
    await page.get_by_label(re.compile("^Bezeichnung")).fill(label)
    await page.get_by_label("Passwort").fill(PASSWORD)
    await page.get_by_role("button", name="Passkey registrieren").click()


async def test_a_further_passkey_needs_the_registered_one_not_the_code(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), host="localhost", demo=True) as h, \
            chromium() as browser:
        totp = totp_of(await h.app[USERS].add("akeller", "counsellor", PASSWORD,
                                              pseudonym="Anna"))
        page = await (await browser.new_context()).new_page()
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("WebAuthn.enable")
        laptop = await add_authenticator(cdp, "internal")
        confirmations: list[dict[str, Any]] = []
        page.on("request", lambda r: confirmations.append(json.loads(r.post_data or "{}"))
                if r.url.endswith("/console/api/passkeys/options") else None)

        await login(page, h.url, "akeller", totp.now())
        await page.goto(h.url + "/console/account")
        await page.get_by_label(re.compile("^Bezeichnung")).fill("Laptop")
        await page.get_by_label("Passwort").fill(PASSWORD)
        await page.get_by_label("Einmalcode").fill(totp.at(time.time() + 30))
        await page.get_by_role("button", name="Passkey registrieren").click()
        await page.locator("#account-status").get_by_text(REGISTERED).wait_for()
        assert await labels(h) == ["Laptop"]

        # The form now asks for a registered passkey instead of the one-time code.
        await page.get_by_text("einen Ihrer registrierten Passkeys").wait_for()
        assert await page.get_by_label("Einmalcode").count() == 0

        # The new passkey lives on a security key: the laptop's passkey confirms first, and
        # once the server has taken that confirmation the security key is what is attached.
        swapped: list[str] = []

        async def swap(route: Route) -> None:
            if not swapped:
                await cdp.send("WebAuthn.removeVirtualAuthenticator",
                               {"authenticatorId": laptop})
                swapped.append(await add_authenticator(cdp, "usb"))
            await route.continue_()
        await page.route("**/console/api/passkeys/options", swap)
        await register(page, "Sicherheitsschlüssel")
        await page.locator("#account-status").get_by_text(REGISTERED).wait_for()
        assert await labels(h) == ["Laptop", "Sicherheitsschlüssel"]
        sent = confirmations[-1]
        assert "totp" not in sent and sent["assertion"]["clientExtensionResults"] == {}
        # The confirmation was the laptop's passkey, the one registered first.
        assert sent["assertion"]["id"] == (await stored_ids(h))[0]

        # Only the security key is attached now, and it holds no passkey the server names for
        # the confirmation: cancelled, nothing registered.
        await page.unroute("**/console/api/passkeys/options")
        await cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": swapped[0]})
        await add_authenticator(cdp, "usb")
        await register(page, "Fremder Schlüssel")
        await page.get_by_text("Kein registrierter Passkey bestätigt – nichts registriert")\
            .wait_for()
        assert await labels(h) == ["Laptop", "Sicherheitsschlüssel"]


async def stored_ids(h: Harness) -> list[str]:
    user = await h.app[USERS].find("akeller")
    assert user is not None
    async with h.app[USERS].engine.connect() as conn:
        return [r.id for r in await conn.execute(
            sa.select(passkeys.c.id).where(passkeys.c.user_id == user.id)
            .order_by(passkeys.c.created))]
