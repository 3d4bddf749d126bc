"""The key passphrase's KDF in Chromium (docs/protocol.md, "The console's keys: key custody"):
a wrap of before (PBKDF2-SHA-256) still unlocks, and only after it did the console adds a
scrypt wrap of the same keys beside it, leaving the old one as it was; a wrong passphrase adds
nothing; the scrypt wrap alone unlocks the same keys next time. A scrypt wrap whose parameters
are below the floor (a downgrade written into the database) is refused with a clear message
even though the passphrase would open it."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.secret
import nacl.signing
import pytest
import sqlalchemy as sa
from playwright.async_api import Page

from chatserver import crypto
from chatserver.config import Config
from chatserver.records.schema import key_wraps
from chatserver.web.appkeys import RECORDS, USERS
from tests.support import console_keys as ck
from tests.support.browser import KEY_PASSPHRASE, PASSWORD, chromium, login, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

UNLOCKED = "Aktenschlüssel entsperrt"


async def wraps_of(h: Harness, user_id: str) -> list[Any]:
    async with h.app[RECORDS].engine.connect() as conn:
        return list(await conn.execute(sa.select(key_wraps.c.id, key_wraps.c.blob)
                                       .where(key_wraps.c.user_id == user_id)
                                       .order_by(key_wraps.c.created, key_wraps.c.id)))


async def account_with_wrap(h: Harness, name: str, pseudonym: str,
                            wrap: dict[str, Any]) -> tuple[str, Any]:
    """An account whose only key wrap is ``wrap``; its id and TOTP."""
    uri = await h.app[USERS].add(name, "counsellor", PASSWORD, pseudonym=pseudonym)
    user = await h.app[USERS].find(name)
    assert user is not None
    await h.app[USERS].add_key_wrap(user.id, secrets.token_hex(16), json.dumps(wrap))
    return user.id, totp_of(uri)


async def identity_of(page: Page) -> str:
    text = await page.locator("#identity").text_content() or ""
    found = re.search(r"Identitätsschlüssel: (\S+)", text)
    assert found, text
    return found.group(1)


async def type_passphrase(page: Page, passphrase: str) -> None:
    await page.get_by_label("Schlüssel-Passphrase", exact=True).fill(passphrase)
    await page.get_by_role("button", name="Entsperren", exact=True).click()


async def test_a_pbkdf2_wrap_unlocks_and_a_scrypt_wrap_goes_beside_it_only_afterwards(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    keys = ck.fresh_keys()
    identity = crypto.b64encode(bytes(nacl.signing.SigningKey(
        crypto.b64decode(keys["identity_seed"])).verify_key))
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        old = ck.pbkdf2_wrap(keys, KEY_PASSPHRASE)
        user_id, totp = await account_with_wrap(h, "akeller", "Anna", old)
        before = await wraps_of(h, user_id)
        page = await (await browser.new_context()).new_page()
        await login(page, h.url, "akeller", totp.now(), passphrase=None)

        # A wrong passphrase: refused, and nothing is added.
        await type_passphrase(page, "KANARIE-falsche-passphrase")
        await page.get_by_text(re.compile("Passphrase passt nicht – nichts wurde verändert"))\
            .wait_for()
        assert await wraps_of(h, user_id) == before

        # The right one opens the old wrap; a scrypt wrap of the same keys is added beside it.
        await type_passphrase(page, KEY_PASSPHRASE)
        await page.locator("#unlock").wait_for(state="hidden")
        await page.get_by_text(UNLOCKED).wait_for()
        assert await identity_of(page) == identity

        async def two() -> bool:
            return len(await wraps_of(h, user_id)) == 2
        await eventually(two)
        kept, added = await wraps_of(h, user_id)
        assert (kept.id, kept.blob) == (before[0].id, before[0].blob)
        new = json.loads(added.blob)
        assert {k: new[k] for k in ("v", "kdf", "N", "r", "p")} == \
            {"v": 3, "kdf": "scrypt", **ck.SCRYPT}
        assert ck.open_wrap(new, KEY_PASSPHRASE) == keys

        # Next time the scrypt wrap alone opens the same keys (the old one taken away here),
        # and nothing more is added.
        async with h.app[RECORDS].engine.begin() as conn:
            await conn.execute(sa.delete(key_wraps).where(key_wraps.c.id == kept.id))
        async with page.expect_navigation():
            await page.get_by_role("button", name="Abmelden").click()
        await login(page, h.url, "akeller", totp.at(time.time() + 30))
        await page.get_by_text(UNLOCKED).wait_for()
        assert await identity_of(page) == identity
        assert [(w.id, w.blob) for w in await wraps_of(h, user_id)] == [(added.id, added.blob)]


async def test_a_scrypt_wrap_below_the_floor_is_refused_though_the_passphrase_fits(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    keys = ck.fresh_keys()
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        # Written into the database: 16 MiB instead of the floor's 64, and it would open.
        weak = ck.scrypt_wrap(keys, KEY_PASSPHRASE, n=2**14)
        raw = crypto.b64decode(weak["box"])
        key = ck.scrypt_key(KEY_PASSPHRASE, crypto.b64decode(weak["salt"]), 2**14, 8, 1)
        assert json.loads(nacl.secret.SecretBox(key).decrypt(raw[24:], raw[:24])) == keys
        user_id, totp = await account_with_wrap(h, "bschmidt", "Ben", weak)
        before = await wraps_of(h, user_id)
        page = await (await browser.new_context()).new_page()
        await login(page, h.url, "bschmidt", totp.now(), passphrase=None)
        await type_passphrase(page, KEY_PASSPHRASE)
        await page.get_by_text(re.compile(
            "Eine gespeicherte Schlüssel-Hülle liegt unter dem Mindestmaß und wird nicht "
            "verwendet")).wait_for()
        assert await page.locator("#unlock").is_visible()
        assert "Identitätsschlüssel:" not in (await page.locator("#identity").text_content() or "")
        assert await wraps_of(h, user_id) == before
