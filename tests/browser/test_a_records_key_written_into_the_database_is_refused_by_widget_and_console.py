"""Someone who can write the database (a server in the middle) swaps the team's records public
key for their own, or slips a console a records secret of their own: the widget leaves no
anonymous message sealed to it and the console seals no case record to it; both say so."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import nacl.bindings as sodium
import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page

from chatserver import crypto
from chatserver.config import Config
from chatserver.records.schema import key_grants, records, team_keys
from chatserver.web.appkeys import ENGINE, RECORDS, USERS
from tests.support.browser import PASSWORD, chromium, login, show_view, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of

pytestmark = pytest.mark.browser


async def write_records_pk(h: Harness, records_pk: str) -> None:
    async with h.app[ENGINE].begin() as conn:
        await conn.execute(sa.update(team_keys).where(team_keys.c.name == "records")
                           .values(public_key=records_pk))


async def leave_drop(browser: Browser, h: Harness, text: str) -> Page:
    visitor = await (await browser.new_context()).new_page()
    await visitor.goto(h.url + "/widget/frame")
    await visitor.get_by_text("Gerade ist niemand im Dienst").wait_for()
    await visitor.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(text)
    await visitor.get_by_role("button", name="Nachricht hinterlassen").click()
    return visitor


async def test_a_swapped_records_key_or_a_foreign_records_secret_seals_nothing(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    attacker_sk = os.urandom(32)
    attacker_pk = crypto.b64encode(sodium.crypto_scalarmult_base(attacker_sk))
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna_uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        anna = await (await browser.new_context()).new_page()
        await login(anna, h.url, "akeller", totp_of(anna_uri).now())
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()
        genuine_pk = await h.app[RECORDS].keyring.records_public_key()

        # With the key as certified, a message is left.
        first = await leave_drop(browser, h, "KANARIE-vorher")
        await first.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()
        assert len(await h.app[RECORDS].list_drops()) == 1

        # A visitor in a chat agrees to a case record.
        await anna.get_by_role("button", name="Dienst beginnen").click()
        await anna.get_by_text("Im Dienst").wait_for()
        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await anna.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await anna.get_by_role("button", name="Einwilligung erfragen").click()
        await visitor.get_by_role("button", name="Ja, einverstanden").click()
        await anna.get_by_text("Einwilligung: ja").wait_for()

        # The database now serves another key: the console refuses to seal the record to it.
        await write_records_pk(h, attacker_pk)
        await show_view(anna, "Fallakten")
        await anna.get_by_role("button", name="Akten laden").click()
        await anna.locator("#keyring", has_text="Aktenschlüssel nicht bestätigt").wait_for()
        await show_view(anna, "Chats")
        await anna.get_by_role("button", name="Akte anlegen").click()
        await anna.locator("#status", has_text=re.compile(
            "Akte nicht gespeichert.*nicht bestätigt")).wait_for()

        # The key is put back, but the console's grant is swapped for a secret of the
        # attacker's: certified key and own secret disagree, so nothing is sealed either.
        await write_records_pk(h, genuine_pk)
        anna_id = (await h.app[USERS].find("akeller")).id  # type: ignore[union-attr]
        async with h.app[ENGINE].begin() as conn:
            box_pk = (await conn.execute(sa.select(key_grants.c.box_pk)
                                         .where(key_grants.c.user_id == anna_id))).scalar_one()
            await conn.execute(sa.update(key_grants).where(key_grants.c.user_id == anna_id)
                               .values(sealed_records_sk=crypto.b64encode(crypto.seal(
                                   crypto.b64decode(box_pk), attacker_sk))))
        await show_view(anna, "Fallakten")
        await anna.get_by_role("button", name="Akten laden").click()
        await anna.locator("#keyring", has_text="passt nicht zu Ihrem").wait_for()
        await show_view(anna, "Chats")
        await anna.get_by_role("button", name="Akte anlegen").click()
        await anna.locator("#status", has_text=re.compile(
            "Akte nicht gespeichert.*passt nicht zu Ihrem")).wait_for()
        async with h.app[ENGINE].connect() as conn:
            filed = await conn.execute(sa.select(sa.func.count()).select_from(records))
            assert filed.scalar_one() == 0

        # Off duty again, the database serves the attacker's key: the widget leaves nothing.
        await anna.get_by_role("button", name="Chat beenden", exact=True).click()
        await anna.get_by_role("button", name="Ja, Chat beenden").click()
        await anna.get_by_role("button", name="Dienst beenden").click()
        await anna.get_by_text("Nicht im Dienst").wait_for()
        await write_records_pk(h, attacker_pk)
        second = await leave_drop(browser, h, "KANARIE-nachher")
        await second.get_by_text(re.compile(
            "Deine Nachricht wurde nicht gespeichert: Wir konnten nicht prüfen")).wait_for()
        assert await second.locator("#drop-codename").text_content() == ""
        assert len(await h.app[RECORDS].list_drops()) == 1
