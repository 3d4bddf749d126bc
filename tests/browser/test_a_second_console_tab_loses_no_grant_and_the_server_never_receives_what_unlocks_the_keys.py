"""Key custody in Chromium with the DevTools virtual authenticator (docs/protocol.md, "Key
custody"): the first sign-in sets the counsellor's own password and sets up the keys with a
key passphrase and a passkey; the next sign-in unlocks them with the passkey's PRF output; a
second console tab has the same keys and the grant survives. Every request body and socket
frame the consoles sent is recorded: none holds the passphrase, a PRF output or anything
derived from them. Without PRF the passphrase alone works, and a wrong one changes nothing."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.async_api import BrowserContext, Page

from chatserver.config import Config
from chatserver.records.schema import key_grants, key_wraps
from chatserver.web.appkeys import RECORDS, USERS
from tests.support import console_keys
from tests.support.browser import KEY_PASSPHRASE, PASSWORD, chromium, login, unlock, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

OWN_PASSWORD = "KANARIE-eigenes-anmeldepasswort"
UNLOCKED = "Aktenschlüssel entsperrt"
# Notes in each page every PRF output the authenticator gave, every key WebCrypto derived and
# every secretbox key, the passphrase's scrypt key among them (run before the page's own
# scripts, through the DevTools protocol: CSP does not apply).
CAPTURE = """
window.__secrets = [];
const note = (buf) => window.__secrets.push(Array.from(new Uint8Array(buf)));
const get = navigator.credentials.get.bind(navigator.credentials);
navigator.credentials.get = async (options) => {
  const cred = await get(options);
  const prf = cred.getClientExtensionResults().prf;
  if (prf && prf.results && prf.results.first) note(prf.results.first);
  return cred;
};
const derive = crypto.subtle.deriveBits.bind(crypto.subtle);
crypto.subtle.deriveBits = async (...args) => {
  const out = await derive(...args);
  note(out);
  return out;
};
// The key passphrase's scrypt runs in JavaScript, not WebCrypto: every key that seals or opens
// a secretbox (the wrap keys among them) is noted as tweetnacl defines secretbox and its open.
const lib = {};
let box, openBox;
Object.defineProperty(lib, "secretbox", { configurable: true, enumerable: true, get: () => box,
  set: (fn) => {
    box = (msg, nonce, key) => { note(key); return fn(msg, nonce, key); };
    Object.defineProperty(box, "open", { configurable: true, enumerable: true,
      get: () => (sealed, nonce, key) => { note(key); return openBox(sealed, nonce, key); },
      set: (f) => { openBox = f; } });
  } });
window.nacl = lib;
"""


async def authenticator(page: Page, prf: bool) -> None:
    """A platform passkey authenticator on this page, with or without the PRF extension."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "hasPrf": prf}})


async def record_frames(page: Page, sent: list[str]) -> None:
    """Every socket frame ``page`` sends, into ``sent``."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    cdp.on("Network.webSocketFrameSent",
           lambda event: sent.append(str(event["response"]["payloadData"])))


def record_requests(context: BrowserContext, sent: list[str]) -> None:
    """Every request body (and URL) any page of ``context`` sends, into ``sent``."""
    def note(request: Any) -> None:
        body = request.post_data_buffer
        sent.append(request.url + "\n" + (body.decode("latin-1") if body else ""))
    context.on("request", note)


def spellings(raw: bytes) -> set[str]:
    """The ways a secret could travel: hex, base64 and base64url, padded or not."""
    b64 = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    return {raw.hex(), b64, b64.rstrip("="), url, url.rstrip("=")}


async def rows(h: Harness, name: str) -> tuple[list[Any], list[Any]]:
    """The account's grant rows and key wraps, as stored."""
    user = await h.app[USERS].find(name)
    assert user is not None
    async with h.app[RECORDS].engine.connect() as conn:
        grants = list(await conn.execute(sa.select(key_grants).where(
            key_grants.c.user_id == user.id)))
        wraps = list(await conn.execute(sa.select(key_wraps).where(
            key_wraps.c.user_id == user.id).order_by(key_wraps.c.id)))
    return grants, wraps


async def identity_of(page: Page) -> str:
    text = await page.locator("#identity").text_content() or ""
    found = re.search(r"Identitätsschlüssel: (\S+)", text)
    assert found, text
    return found.group(1)


async def test_passkey_unlocks_a_second_tab_keeps_the_grant_and_nothing_that_unlocks_is_sent(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), host="localhost", demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna",
                                     one_time=True)
        totp = totp_of(uri)
        context = await browser.new_context()
        await context.add_init_script(CAPTURE)
        sent: list[str] = []
        record_requests(context, sent)
        page = await context.new_page()
        await authenticator(page, prf=True)
        await record_frames(page, sent)

        # The administrator's password signs in once: to choose her own, nothing else.
        await login(page, h.url, "akeller", totp.now())
        assert page.url.endswith("/console/password")
        assert (await page.request.get(h.url + "/console/api/keys")).status == 403
        await page.get_by_label("Neues Passwort").fill(OWN_PASSWORD)
        await page.get_by_label("Noch einmal").fill(OWN_PASSWORD)
        async with page.expect_navigation():
            await page.get_by_role("button", name="Passwort setzen").click()
        # The first console: keys made here, wrapped under the passphrase and the passkey.
        await unlock(page, passkey=True)
        await page.get_by_text(UNLOCKED).wait_for()
        first = await identity_of(page)
        grants, wraps = await rows(h, "akeller")
        assert len(grants) == 1 and grants[0].sealed_records_sk
        assert sorted(re.search(r'"kdf":"([^"]+)"', w.blob).group(1)  # type: ignore[union-attr]
                      for w in wraps) == ["scrypt", "webauthn-prf"]
        secrets: list[list[int]] = list(await page.evaluate("window.__secrets"))
        # The capture sees the scrypt key that wraps the keys under the passphrase.
        scrypt = next(json.loads(w.blob) for w in wraps if '"kdf":"scrypt"' in w.blob)
        assert list(console_keys.scrypt_key(
            KEY_PASSPHRASE, base64.b64decode(scrypt["salt"]),
            *console_keys.scrypt_params(scrypt))) in secrets

        # Signed out and in again: the keys open with the passkey alone.
        async with page.expect_navigation():
            await page.get_by_role("button", name="Abmelden").click()
        await login(page, h.url, "akeller", totp.at(time.time() + 30), password=OWN_PASSWORD,
                    passphrase=None)
        await page.get_by_role("button", name="Mit Passkey entsperren") \
            .click()
        await page.locator("#unlock").wait_for(state="hidden")
        await page.get_by_text(UNLOCKED).wait_for()
        assert await identity_of(page) == first
        secrets += await page.evaluate("window.__secrets")

        # A second tab (it waits while the first holds the console, and takes over when
        # asked): the same keys, no new box key, and the grant is still there.
        take_over = "Hier weiterarbeiten"
        second = await context.new_page()
        await record_frames(second, sent)
        await second.goto(h.url + "/console/")
        await second.get_by_role("button", name=take_over).click()
        await second.get_by_text(UNLOCKED).wait_for()
        assert await identity_of(second) == first
        # The first tab, reloaded, takes the console back with the same keys.
        await page.reload()
        await page.get_by_role("button", name=take_over).click()
        await page.get_by_text(UNLOCKED).wait_for()
        grants_after, wraps_after = await rows(h, "akeller")
        assert [(g.box_pk, g.sealed_records_sk) for g in grants_after] == \
            [(g.box_pk, g.sealed_records_sk) for g in grants]
        assert [(w.id, w.blob) for w in wraps_after] == [(w.id, w.blob) for w in wraps]
        secrets += await second.evaluate("window.__secrets")

        # What unlocks the keys never left the browser: not the passphrase, not a PRF output
        # (32 bytes, from the authenticator), not a key derived from either.
        prf_outputs = [s for s in secrets if len(s) == 32]
        assert len(prf_outputs) >= 4, "the capture saw no PRF output and no derived key"
        canaries = {KEY_PASSPHRASE} | {c for s in secrets for c in spellings(bytes(s))}
        await eventually(lambda: any("socket.io" in s or "keyring" in s for s in sent))
        assert any("/console/login" in s for s in sent)  # the recording saw the sign-ins
        leaked = sorted({c[:8] for c in canaries for s in sent if c in s})
        assert leaked == []


async def test_without_prf_the_passphrase_unlocks_and_a_wrong_one_changes_nothing(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), host="localhost", demo=True) as h, \
            chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        totp = totp_of(uri)
        context = await browser.new_context()
        page = await context.new_page()
        await authenticator(page, prf=False)
        await page.goto(h.url + "/console/login")
        await page.get_by_label("Name").fill("akeller")
        await page.get_by_label("Passwort").fill(PASSWORD)
        await page.get_by_label("Einmalcode").fill(totp.now())
        await page.get_by_role("button", name="Anmelden").click()

        # A passkey without PRF cannot protect keys: said so, nothing stored.
        await page.get_by_label("Neue Schlüssel-Passphrase").fill(
            KEY_PASSPHRASE)
        await page.get_by_label("Passphrase noch einmal").fill(KEY_PASSPHRASE)
        await page.get_by_label(re.compile("Auch mit einem Passkey")).check()
        await page.get_by_role("button", name="Schlüssel einrichten").click()
        await page.get_by_text(re.compile("kann keine Schlüssel ableiten \\(PRF\\)")).wait_for()
        assert await rows(h, "akeller") == ([], [])
        # The passphrase alone.
        await page.get_by_label(re.compile("Auch mit einem Passkey")).uncheck()
        await page.get_by_role("button", name="Schlüssel einrichten").click()
        await page.locator("#unlock").wait_for(state="hidden")
        await page.get_by_text(UNLOCKED).wait_for()
        first = await identity_of(page)
        before = await rows(h, "akeller")
        assert len(before[0]) == 1 and len(before[1]) == 1

        # Signed out and in: a wrong passphrase is refused and changes nothing, anywhere.
        async with page.expect_navigation():
            await page.get_by_role("button", name="Abmelden").click()
        await login(page, h.url, "akeller", totp.at(time.time() + 30), passphrase=None)
        await page.get_by_label("Schlüssel-Passphrase", exact=True).fill(
            "KANARIE-falsche-passphrase")
        await page.get_by_role("button", name="Entsperren", exact=True).click()
        await page.get_by_text(re.compile("Passphrase passt nicht – nichts wurde verändert"))\
            .wait_for()
        assert not await page.locator("#unlock").is_hidden()
        after = await rows(h, "akeller")
        assert [(g.box_pk, g.sealed_records_sk) for g in after[0]] == \
            [(g.box_pk, g.sealed_records_sk) for g in before[0]]
        assert [(w.id, w.blob) for w in after[1]] == [(w.id, w.blob) for w in before[1]]
        # The right one opens the same keys.
        await unlock(page)
        await page.get_by_text(UNLOCKED).wait_for()
        assert await identity_of(page) == first
