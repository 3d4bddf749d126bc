"""Browser tests' helpers: Debian's Chromium, a chat server on a known port with a pinned
throwaway PKI, the console sign-in, and axe-core's verdict on a page."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Locator, Page, async_playwright

from chatserver import crypto
from chatserver.admin import demo
from chatserver.config import Config
from chatserver.main import create_app
from chatserver.web.appkeys import CLOCK, USERS
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of
from tests.support.paths import ROOT
from tests.support.redis_server import free_port

# Every console account of the browser tests has this password, and this key passphrase.
PASSWORD = "lang-und-geheim-genug"
KEY_PASSPHRASE = "KANARIE-schluessel-passphrase"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]


@asynccontextmanager
async def widget_server(make_config: Callable[..., Config], tmp_path: Path, pki: Pki,
                        clock: Callable[[], float] | None = None,
                        host: str = "127.0.0.1", **overrides: object) -> AsyncIterator[Harness]:
    """A real server whose config pins ``pki`` and allows its own origin (``clock``: the
    app's wall clock instead of the real one; on ``host``: WebAuthn wants a name,
    ``localhost``, where addresses are no relying party)."""
    port = free_port()
    origin = f"http://{host}:{port}"
    revocations = tmp_path / "revocations.json"
    revocations.write_text(json.dumps(pki.revocations))
    pinned = {} if overrides.get("demo") else {
        "org_public_key": crypto.b64encode(pki.org_public_key),
        "revocations_file": str(revocations)}
    config = demo.prepare(make_config(
        port=port, public_origins=(origin,), embed_origins=(origin,),
        exit_url=origin + "/healthz", **pinned, **overrides))
    app = create_app(config)
    if clock is not None:
        app[CLOCK] = clock
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    harness = Harness(server.app, origin)
    try:
        yield harness
    finally:
        await harness.close()
        await server.close()


def speak_german(browser: Browser) -> None:
    """Every new context and page reads German first (Accept-Language: de-DE), like a German
    team's browsers: the login page follows it before sign-in. A test of another language
    asks for its own with ``locale=``."""
    for name in ("new_context", "new_page"):
        make = getattr(browser, name)

        async def german(make: Any = make, **options: Any) -> Any:
            options.setdefault("locale", "de-DE")
            return await make(**options)

        setattr(browser, name, german)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, with no background traffic."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium",
                                           args=CHROMIUM_ARGS)
        speak_german(browser)
        try:
            yield browser
        finally:
            await browser.close()


async def login(page: Page, url: str, name: str, code: str, password: str = PASSWORD,
                passphrase: str | None = KEY_PASSPHRASE) -> None:
    """Sign in to the console as a person does: name, password, one-time code, the button;
    then, on the console, unlock the keys with ``passphrase`` (:func:`unlock`; None: not)."""
    await page.goto(url + "/console/login")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Passwort").fill(password)
    await page.get_by_label("Einmalcode").fill(code)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Anmelden").click()
    if passphrase is not None and urlsplit(page.url).path == "/console/":
        await unlock(page, passphrase)


async def on_duty_console(h: Harness, page: Page, name: str = "akeller",
                          pseudonym: str = "Anna") -> Page:
    """A new counsellor account ``name`` signed in on ``page`` and on duty."""
    uri = await h.app[USERS].add(name, "counsellor", PASSWORD, pseudonym=pseudonym)
    await login(page, h.url, name, totp_of(uri).now())
    await page.get_by_role("button", name="Dienst beginnen").click()
    await page.get_by_text("Im Dienst").wait_for()
    return page


async def unlock(page: Page, passphrase: str = KEY_PASSPHRASE, passkey: bool = False) -> None:
    """Unlock the console's keys as a person does: at the very first sign-in choose the key
    passphrase (twice, and with ``passkey`` a passkey too), afterwards type it."""
    setup = page.locator("#unlock-setup")
    await page.locator("#unlock-setup:visible, #unlock-passphrase-form:visible").first.wait_for()
    if await setup.is_visible():
        await page.get_by_label("Neue Schlüssel-Passphrase").fill(passphrase)
        await page.get_by_label("Passphrase noch einmal").fill(passphrase)
        if passkey:
            await page.get_by_label(re.compile("Auch mit einem Passkey")).check()
        await page.get_by_role("button", name="Schlüssel einrichten").click()
    else:
        await page.get_by_label("Schlüssel-Passphrase", exact=True).fill(
            passphrase)
        await page.get_by_role("button", name="Entsperren", exact=True).click()
    await page.locator("#unlock").wait_for(state="hidden")


async def serious_violations(page: Page) -> list[str]:
    """The serious and critical axe-core findings on ``page`` (which must bypass CSP: the
    injected script is inline)."""
    await page.add_script_tag(path=str(ROOT / "node_modules/axe-core/axe.min.js"))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]


async def serious_violations_under_csp(page: Page) -> list[str]:
    """:func:`serious_violations` for a page that keeps its CSP: axe-core is evaluated through
    the DevTools protocol, to which the page's policy does not apply."""
    source = (ROOT / "node_modules/axe-core/axe.min.js").read_text("utf-8")
    await page.evaluate("(source) => { (0, eval)(source); }", source)
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]


# Notes when a message appears in a page's log and when a line of its own gets the delivered
# mark (run through the DevTools protocol, so the page's CSP does not apply): window.__seen and
# window.__marked hold [text, time] pairs, so a test can check that nothing was marked
# delivered before the other page showed it.
WATCH = """() => {
  window.__seen = [];
  window.__marked = [];
  const text = (li) => (li.firstChild && li.firstChild.nodeType === 3 ? li.firstChild.data : "");
  const check = (small) => {
    if (small.parentNode && small.parentNode.classList.contains("me")
        && /^zugestellt( \\/ delivered)?$/.test(small.textContent.trim())) {
      window.__marked.push([text(small.parentNode), Date.now()]);
    }
  };
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const node of change.addedNodes) {
        if (node.nodeName === "LI") {
          if (node.classList.contains("them")) window.__seen.push([text(node), Date.now()]);
          const small = node.querySelector("small");
          if (small) check(small);
        } else if (node.nodeName === "SMALL") {
          check(node);
        } else if (node.nodeType === 3 && change.target.nodeName === "SMALL") {
          check(change.target);
        }
      }
    }
  }).observe(document.getElementById("log"), { childList: true, subtree: true });
}"""


async def violations_under_csp(page: Page, within: str = "") -> list[str]:
    """Every axe-core finding on ``page`` (or only in the part the CSS selector ``within``
    picks), of any impact (``rule: target`` each), evaluated through the DevTools protocol as
    in :func:`serious_violations_under_csp`."""
    source = (ROOT / "node_modules/axe-core/axe.min.js").read_text("utf-8")
    await page.evaluate("(source) => { if (!window.axe) (0, eval)(source); }", source)
    result = await page.evaluate(
        "(within) => axe.run(within ? { include: [within] } : document, "
        "{resultTypes: ['violations']})", within)
    return [f"{v['id']}: {', '.join(str(n['target']) for n in v['nodes'])}"
            for v in result["violations"]]


async def show_view(page: Page, name: str) -> None:
    """Open one of the console's views by its tab ("Chats", "Fallakten", "Anonyme
    Nachrichten", "Textbausteine"), as a person clicks it."""
    await page.get_by_role("tab", name=re.compile("^" + re.escape(name))).click()


def chat_tabs(page: Page) -> Locator:
    """The open chats' tabs in the console's sidebar (the views have tabs of their own)."""
    return page.locator("#tabs").get_by_role("tab")


async def virtual_authenticator(page: Page, prf: bool = True) -> None:
    """A platform passkey authenticator for ``page`` (Chromium's DevTools virtual one, with
    discoverable credentials, user verification and, with ``prf``, the PRF extension)."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "hasPrf": prf}})


READING_CODE = re.compile(r"(?:[0-9a-hjkmnp-tv-z]{4}-){3}[0-9a-hjkmnp-tv-z]{4}")


def shown_codename(text: str) -> tuple[list[str], str]:
    """The codename a widget shows after the hand-off, split: the server's words, and the
    reading code the widget made after them (docs/protocol.md, "The visitor's own copy");
    asserts the shape of both."""
    *words, code = text.split()
    assert len(words) == 7 and all(w.isalpha() for w in words), text
    assert READING_CODE.fullmatch(code), text
    return words, code
