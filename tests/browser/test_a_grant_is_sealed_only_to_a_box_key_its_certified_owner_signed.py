"""A console grants the records key only after checking the colleague's chain (certificate
against the organisation key, the certified identity key's signature of the box key) and shows
whom it grants to by pseudonym and fingerprint; a box key with a forged signature gets no
grant button, so nothing is sealed to it."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page

from chatserver import crypto
from chatserver.config import Config
from chatserver.records.schema import key_grants
from chatserver.web.appkeys import ENGINE, USERS
from tests.support.browser import PASSWORD, chromium, login, show_view, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of

pytestmark = pytest.mark.browser


async def signed_in(browser: Browser, h: Harness, name: str, pseudonym: str) -> Page:
    uri = await h.app[USERS].add(name, "counsellor", PASSWORD, pseudonym=pseudonym)
    page = await (await browser.new_context()).new_page()
    await login(page, h.url, name, totp_of(uri).now())
    return page


async def grant_of(h: Harness, name: str) -> str | None:
    user = await h.app[USERS].find(name)
    assert user is not None
    async with h.app[ENGINE].connect() as conn:
        return (await conn.execute(sa.select(key_grants.c.sealed_records_sk)
                                   .where(key_grants.c.user_id == user.id))).scalar_one()


async def test_only_a_verified_colleague_is_offered_and_granted_the_records_key(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna = await signed_in(browser, h, "akeller", "Anna")
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()
        ben = await signed_in(browser, h, "bschmidt", "Ben")
        carla = await signed_in(browser, h, "cweber", "Carla")
        for page in (ben, carla):
            await page.get_by_text(re.compile("Warte auf Freigabe")).wait_for()
        carla_fp = re.search(r"Fingerabdruck ((?:[0-9A-F]{4} ){7}[0-9A-F]{4})",
                             await carla.locator("#identity").text_content() or "")
        assert carla_fp is not None

        # Whoever writes the database puts a signature of its own beside Ben's box key.
        ben_id = (await h.app[USERS].find("bschmidt")).id  # type: ignore[union-attr]
        async with h.app[ENGINE].begin() as conn:
            await conn.execute(sa.update(key_grants).where(key_grants.c.user_id == ben_id)
                               .values(box_sig=crypto.b64encode(os.urandom(64))))

        await show_view(anna, "Fallakten")
        await anna.get_by_role("button", name="Akten laden").click()
        refused = anna.locator("#pending li", has_text=re.compile(r"\bBen\b"))
        await refused.get_by_text(re.compile(
            "Nicht freigegeben, Schlüssel nicht bestätigt.*Ben")).wait_for()
        assert await refused.get_by_role("button").count() == 0
        offered = anna.locator("#pending li", has_text=re.compile(r"\bCarla\b"))
        await offered.get_by_text(
            "Zugang erbeten von Carla · Fingerabdruck "
            + carla_fp.group(1)).wait_for()
        assert await anna.get_by_role("button", name="Freigeben").count() == 1

        await offered.get_by_role("button", name="Freigeben").click()
        await offered.wait_for(state="detached")
        await show_view(carla, "Fallakten")
        await carla.get_by_role("button", name="Akten laden").click()
        await carla.get_by_text("Aktenschlüssel entsperrt").wait_for()
        assert await grant_of(h, "cweber") is not None
        assert await grant_of(h, "bschmidt") is None

        # Ben's console registers again with its genuine signature: now he is offered.
        await ben.reload()
        await ben.get_by_text(re.compile("Warte auf Freigabe")).wait_for()
        await show_view(anna, "Fallakten")
        await anna.get_by_role("button", name="Akten laden").click()
        await anna.locator("#pending li", has_text=re.compile(r"Zugang erbeten von Ben\b")
                           ).get_by_role("button", name="Freigeben").wait_for()
