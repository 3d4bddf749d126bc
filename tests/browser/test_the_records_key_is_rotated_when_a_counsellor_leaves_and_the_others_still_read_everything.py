"""When a counsellor leaves, the administrator disables the account and rotates the records key
in the console: the new epoch is granted to every colleague whose certified identity signed
their box key, and to nobody else; the widget seals what comes next to the new epoch, and the
colleague who stays reads the messages left before and after the rotation alike. Outside demo
mode the new epoch is sealed to by neither widget nor console until the key ceremony has
certified it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page

from chatserver import crypto
from chatserver.admin import keys
from chatserver.config import Config
from chatserver.records.schema import key_grants, records_epochs, team_keys
from chatserver.web.appkeys import CONFIG, ENGINE, RECORDS, USERS
from tests.support.browser import PASSWORD, chromium, login, show_view, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of

pytestmark = pytest.mark.browser


async def signed_in(browser: Browser, h: Harness, name: str, pseudonym: str,
                    role: str = "counsellor") -> Page:
    uri = await h.app[USERS].add(name, role, PASSWORD, pseudonym=pseudonym)
    page = await (await browser.new_context()).new_page()
    await login(page, h.url, name, totp_of(uri).now())
    return page


async def leave(browser: Browser, h: Harness, text: str) -> None:
    page = await (await browser.new_context()).new_page()
    await page.goto(h.url + "/widget/frame")
    await page.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(text)
    await page.get_by_role("button", name="Nachricht hinterlassen").click()
    await page.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()
    await page.context.close()


async def read_all(page: Page, count: int) -> list[str]:
    """The text of every anonymous message as the console shows it, freshly loaded."""
    await show_view(page, "Anonyme Nachrichten")
    await page.get_by_role("button", name="Nachrichten laden").click()
    await page.get_by_role("button", name="Lesen", exact=True).nth(count - 1).wait_for()
    texts = []
    for i in range(count):
        await page.evaluate("document.getElementById('drop-text').textContent = ''")
        await page.get_by_role("button", name="Lesen", exact=True).nth(i).click()
        shown = page.locator("#drop-text")
        await shown.filter(has_text=re.compile("KANARIE")).wait_for()
        texts.append(await shown.text_content() or "")
    return texts


async def granted(h: Harness) -> set[str]:
    async with h.app[ENGINE].connect() as conn:
        rows = await conn.execute(sa.select(key_grants.c.user_id)
                                  .where(key_grants.c.sealed_records_sk.is_not(None)))
        return {str(r[0]) for r in rows}


async def test_the_records_key_is_rotated_when_a_counsellor_leaves(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna = await signed_in(browser, h, "akeller", "Anna", role="admin")
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()
        ben = await signed_in(browser, h, "bschmidt", "Ben")
        carla = await signed_in(browser, h, "cweber", "Carla")
        for page in (ben, carla):
            await page.get_by_text(re.compile("Warte auf Freigabe")).wait_for()
        await show_view(anna, "Fallakten")
        await anna.get_by_role("button", name="Akten laden").click()
        for who in ("Ben", "Carla"):
            item = anna.locator("#pending li", has_text=re.compile(rf"Zugang erbeten von {who}\b"))
            await item.get_by_role("button", name="Freigeben").click()
            await item.wait_for(state="detached")
        ids = {name: (await h.app[USERS].find(name)).id  # type: ignore[union-attr]
               for name in ("akeller", "bschmidt", "cweber")}
        assert await granted(h) == set(ids.values())
        await leave(browser, h, "KANARIE-vorher")

        # Ben leaves: disabled, and the key rotated in Anna's console.
        await h.app[USERS].set_disabled("bschmidt", True)
        await anna.reload()
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()
        await anna.get_by_role("button", name=re.compile("Aktenschlüssel erneuern")).click()
        # The dialog's focus starts on the harmless answer; the rotation needs the other.
        await anna.get_by_role("button", name="Erneuern", exact=True).click()
        await anna.locator("#rotation-status").get_by_text(
            re.compile(r"Neuer Aktenschlüssel, Epoche 2, Fingerabdruck")).wait_for()
        async with h.app[ENGINE].connect() as conn:
            epoch, new_pk = (await conn.execute(sa.select(team_keys.c.epoch, team_keys.c.public_key)
                                                .where(team_keys.c.name == "records"))).one()
            old_pk = (await conn.execute(sa.select(records_epochs.c.public_key))).scalar_one()
        assert epoch == 2 and new_pk != old_pk
        assert crypto.b64encode(crypto.b64decode(new_pk)) in (
            await anna.locator("#rotation-status").text_content() or "")
        assert await granted(h) == {ids["akeller"], ids["cweber"]}

        # What is left now is sealed to the new epoch; Carla reads before and after alike.
        await leave(browser, h, "KANARIE-nachher")
        await carla.reload()
        await carla.get_by_text("Aktenschlüssel entsperrt").wait_for()
        texts = await read_all(carla, 2)
        assert any("KANARIE-vorher" in t for t in texts)
        assert any("KANARIE-nachher" in t for t in texts)
        # A non-administrator is offered no rotation.
        assert await carla.locator("#rotate").count() == 0


async def test_a_rotated_key_seals_nothing_until_the_key_ceremony_certifies_it(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki) as h, chromium() as browser:
        anna = await signed_in(browser, h, "akeller", "Anna", role="admin")
        # Her identity key certified and installed, the first records key too.
        shown = anna.locator("#identity")
        await shown.get_by_text(re.compile("noch nicht zertifiziert")).wait_for()
        await anna.locator("#keyring", has_text="noch nicht zertifiziert").wait_for()
        key_b64 = re.search(r"Identitätsschlüssel: (\S+)", await shown.text_content() or "")
        assert key_b64 is not None
        cert = crypto.issue_certificate(pki.org, crypto.b64decode(key_b64.group(1)), "Anna",
                                        pki.now - 60, pki.now + 86400)
        await h.app[USERS].set_certificate("akeller", json.dumps(cert))
        first_pk = await h.app[RECORDS].keyring.records_public_key()
        await keys.install_records_certificate(
            h.app[CONFIG], pki.records_certificate(crypto.b64decode(first_pk)))
        await anna.reload()
        await anna.locator("#keyring", has_text=re.compile(
            r"^Aktenschlüssel entsperrt$")).wait_for()

        await anna.get_by_role("button", name=re.compile("Aktenschlüssel erneuern")).click()
        await anna.get_by_role("button", name="Erneuern", exact=True).click()
        await anna.locator("#rotation-status").get_by_text(re.compile("Epoche 2")).wait_for()
        new_pk = await h.app[RECORDS].keyring.records_public_key()
        assert new_pk != first_pk
        said = await anna.locator("#rotation-status").text_content() or ""
        assert f"chatserver keys certify-records --records-pk {new_pk}" in said
        assert f"chatserver keys revoke --pubkey {first_pk}" in said

        # The console names what to run and seals nothing; the widget takes no message.
        await anna.locator("#keyring", has_text="noch nicht zertifiziert").wait_for()
        assert new_pk in (await anna.locator("#keyring").text_content() or "")
        refused = await (await browser.new_context()).new_page()
        await refused.goto(h.url + "/widget/frame")
        await refused.get_by_text(re.compile(
            "Nachrichten können hier noch nicht hinterlassen werden")).wait_for()
        assert await refused.locator("#drop-form").is_hidden()
        assert await h.app[RECORDS].list_drops() == []

        # The key ceremony certifies the new epoch: now it is sealed to.
        await keys.install_records_certificate(
            h.app[CONFIG], pki.records_certificate(crypto.b64decode(new_pk)))
        await anna.reload()
        await anna.locator("#keyring", has_text=re.compile(
            r"^Aktenschlüssel entsperrt$")).wait_for()
        await leave(browser, h, "KANARIE-zertifiziert")
        (drop,) = await h.app[RECORDS].list_drops()
        sealed = (await h.app[RECORDS].open_drop(drop["drop_id"]))["rounds"][0]["sealed_key"]
        assert len(crypto.b64decode(sealed)) == 80
        assert any("KANARIE-zertifiziert" in t for t in await read_all(anna, 1))
