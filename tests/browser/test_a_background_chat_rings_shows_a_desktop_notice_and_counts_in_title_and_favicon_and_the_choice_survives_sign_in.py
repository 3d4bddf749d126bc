"""A counsellor with three chats chooses a tone and a desktop notice for lines in the chats in
the background: a line there rings once and shows a notice that says nothing but "new message
in another chat" (never the line, never who wrote it), the page title and the favicon count
it, and opening the chat clears both. Without the tone nothing rings. The choices are kept on
the server: a reload and a new sign-in show them again, and a colleague's are their own (hers
ring for a new request, his do not). The settings area passes axe, and the favicon the page
draws breaks nothing of its CSP."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.browser import (
    PASSWORD,
    chat_tabs,
    chromium,
    login,
    violations_under_csp,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

TITLE = "Erstkontakt – Beratungskonsole"
SIZE: ViewportSize = {"width": 1280, "height": 800}
CANARY = "KANARIE-hintergrund-4711"
REQUEST_SOUND = "Ton bei neuer Anfrage"
REQUEST_NOTICE = "Desktop-Hinweis bei neuer Anfrage"
MESSAGE_SOUND = "Ton bei neuer Nachricht in einem anderen Chat"
MESSAGE_NOTICE = "Desktop-Hinweis bei neuer Nachricht in einem anderen Chat"
LABELS = (REQUEST_SOUND, REQUEST_NOTICE, MESSAGE_SOUND, MESSAGE_NOTICE)
OTHER_CHAT = "Neue Nachricht in einem anderen Chat"

# Before any script of the page: every oscillator started (with its audio context's state: a
# tone from a suspended context is never heard), every desktop notice made through the real
# constructor, and every CSP violation.
PROBE = """(() => {
  window.__tones = [];
  window.__notices = [];
  window.__csp = [];
  window.__audio = [];
  const Audio = window.AudioContext;
  window.AudioContext = class extends Audio {
    constructor(...args) {
      super(...args);
      this.addEventListener("statechange", () => { window.__audio = [this.state]; });
      window.__audio = [this.state];
    }
  };
  document.addEventListener("securitypolicyviolation",
    (e) => window.__csp.push(e.effectiveDirective + " " + e.blockedURI));
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__tones.push(this.context.state);
    return start.apply(this, args);
  };
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notices.push({ title, body: (options || {}).body || "" });
    }
  };
})();"""

# The favicon as the page shows it, against what notifications.js draws for n, n - 1 and
# n + 1: how many pixels differ clearly from each (0 for the same picture).
FAVICON = """async ([href, n]) => {
  const { drawFavicon } = await import("/console/static/notifications.js");
  const pixels = (draw) => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 32;
    draw(canvas);
    return canvas.getContext("2d").getImageData(0, 0, 32, 32).data;
  };
  const img = new Image();
  img.src = href;
  await img.decode();
  const shown = pixels((canvas) => canvas.getContext("2d").drawImage(img, 0, 0));
  const apart = (other) => {
    let k = 0;
    for (let i = 0; i < shown.length; i += 4) {
      if ([0, 1, 2, 3].some((j) => Math.abs(shown[i + j] - other[i + j]) > 16)) k += 1;
    }
    return k;
  };
  return [n, n - 1, n + 1].map((m) => apart(pixels((canvas) => drawFavicon(canvas, m))));
}"""


async def say(visitor: Page, text: str) -> None:
    await visitor.get_by_label("Nachricht", exact=True).fill(text)
    await visitor.get_by_role("button", name="Senden").click()


async def probed(browser: Browser, h: Harness) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=SIZE)
    await context.grant_permissions(["notifications"], origin=h.url)
    await context.add_init_script(PROBE)
    return context, await context.new_page()


async def tones(page: Page) -> list[str]:
    found: list[str] = await page.evaluate("window.__tones")
    return found


async def notices(page: Page) -> list[dict[str, str]]:
    found: list[dict[str, str]] = await page.evaluate("window.__notices")
    return found


async def favicon_shows(page: Page, count: int, before: str = "") -> str:
    """Wait until the favicon link shows ``count`` (a new href, if ``before`` is given): the
    picture notifications.js draws for it, and not the one for one less or one more."""

    async def shown() -> Any:
        href = await page.locator('link[rel="icon"]').get_attribute("href") or ""
        if not href.startswith("blob:") or href == before:
            return None
        same, fewer, more = await page.evaluate(FAVICON, [href, count])
        # For 0, one less draws the same picture: no badge.
        return href if same == 0 and (fewer > 10 or count == 0) and more > 10 else None

    href: str = await eventually(shown, what=f"the favicon to show {count}")
    return href


async def settings_are(page: Page, on: set[str]) -> None:
    """The four boxes, loaded from the server, checked as ``on`` says."""
    for label in LABELS:
        box = page.get_by_label(label)
        await expect(box).to_be_enabled()
        if label in on:
            await expect(box).to_be_checked()
        else:
            await expect(box).not_to_be_checked()


async def choose(page: Page, label: str, on: bool) -> None:
    await page.get_by_label(label).set_checked(on)
    await expect(page.locator("#notify-status")).to_have_text(
        "Einstellung gespeichert")
    await page.locator("#notify-status").evaluate("(p) => { p.textContent = ''; }")


async def test_a_background_chat_rings_notices_counts_and_the_choice_survives_sign_in(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        _, console = await probed(browser, h)
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        totp = totp_of(uri)
        await login(console, h.url, "akeller", totp.now())
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()

        # Everything off at first; the settings area passes axe.
        await settings_are(console, set())
        assert await violations_under_csp(console, "#notify-settings") == []
        resting = await favicon_shows(console, 0)
        await choose(console, MESSAGE_SOUND, True)
        await choose(console, MESSAGE_NOTICE, True)

        visitors: list[Page] = []
        for entry in (None, "Angehörige oder Freundeskreis", "Fachkraft (z. B. Bewährungshilfe)"):
            visitor = await (await browser.new_context()).new_page()
            await visitor.goto(h.url + "/widget/frame")
            if entry:
                await visitor.get_by_label(entry).check()
            await visitor.get_by_role("button", name="Chat beginnen").click()
            await expect(console).to_have_title("(1) " + TITLE)
            await console.locator("#queue").get_by_role(
                "button", name="Annehmen").click()
            await visitor.locator("#peer").get_by_text(
                re.compile("Du schreibst mit Anna")).wait_for()
            visitors.append(visitor)
        first, second, third = visitors
        tabs = chat_tabs(console)
        await expect(tabs).to_have_count(3)
        await expect(tabs.nth(2)).to_have_attribute("aria-selected", "true")
        await expect(console).to_have_title(TITLE)
        # Requests ring only when chosen: nothing so far.
        assert await tones(console) == []
        assert await notices(console) == []

        # A line in a chat in the background: one tone, one notice with nothing of the chat,
        # and the count in the title and on the favicon.
        await say(first, CANARY + " ich traue mich kaum")
        await expect(tabs.nth(0).locator(".badge")).to_have_text("(1)")
        await expect(console).to_have_title("(1) " + TITLE)
        await eventually(lambda: tones(console), what="the tone", until=lambda t: len(t) == 1)
        assert await tones(console) == ["running"]
        shown = await eventually(lambda: notices(console), what="the desktop notice")
        assert shown == [{"title": "Erstkontakt", "body": OTHER_CHAT}]
        said = json.dumps(shown, ensure_ascii=False)
        for secret in (CANARY, "traue", "Ausstieg", "Deutsch", "Angehörige"):
            assert secret not in said
        one = await favicon_shows(console, 1, before=resting)

        # Opening that chat reads it: no count in the title, none on the favicon.
        await tabs.nth(0).click()
        await expect(tabs.nth(0).locator(".badge")).to_have_count(0)
        await expect(console).to_have_title(TITLE)
        resting = await favicon_shows(console, 0, before=one)
        # A line in the chat shown is read where it is: no tone, no notice.
        await say(first, "Noch eine Zeile")
        await console.locator("#log li.them", has_text="Noch eine Zeile").wait_for()
        assert len(await tones(console)) == 1
        assert len(await notices(console)) == 1

        # Without the tone: a notice, but nothing rings.
        await choose(console, MESSAGE_SOUND, False)
        await say(second, "Hallo von der zweiten")
        await expect(tabs.nth(1).locator(".badge")).to_have_text("(1)")
        await eventually(lambda: notices(console), what="the second notice",
                         until=lambda n: len(n) == 2)
        assert await tones(console) == ["running"]
        await favicon_shows(console, 1, before=resting)
        await say(third, "Und die dritte")
        await expect(tabs.nth(2).locator(".badge")).to_have_text("(1)")
        await expect(console).to_have_title("(2) " + TITLE)
        await favicon_shows(console, 2)
        await eventually(lambda: notices(console), what="the third notice",
                         until=lambda n: len(n) == 3)
        assert await tones(console) == ["running"]

        # Kept on the server: a reload, and a new sign-in, show the same choices.
        await console.reload()
        await settings_are(console, {MESSAGE_NOTICE})
        await console.get_by_role("button", name="Abmelden").click()
        await console.wait_for_url(re.compile("/console/login$"))
        await login(console, h.url, "akeller", totp.at(time.time() + 30))
        await settings_are(console, {MESSAGE_NOTICE})
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()

        # A colleague's choices are his own: all off for him at first; his request tone rings
        # for the next request, hers (off) does not.
        _, ben = await probed(browser, h)
        ben_uri = await h.app[USERS].add("bkoch", "counsellor", PASSWORD, pseudonym="Ben")
        await login(ben, h.url, "bkoch", totp_of(ben_uri).now())
        await ben.get_by_role("button", name="Dienst beginnen").click()
        await ben.get_by_text("Im Dienst").wait_for()
        await settings_are(ben, set())
        await choose(ben, REQUEST_SOUND, True)
        # Her three chats went back to the queue when she signed out; a fourth request comes.
        await expect(ben.locator("#queue li")).to_have_count(3)
        await expect(console.locator("#queue li")).to_have_count(3)
        fourth = await (await browser.new_context()).new_page()
        await fourth.goto(h.url + "/widget/frame")
        await fourth.get_by_role("button", name="Chat beginnen").click()
        await expect(ben).to_have_title("(4) " + TITLE)
        await expect(console).to_have_title("(4) " + TITLE)
        await eventually(lambda: tones(ben), what="his request tone",
                         until=lambda t: len(t) == 1)
        assert await tones(ben) == ["running"]
        assert await notices(ben) == []
        # Hers: the page has heard her click (its audio runs), and still nothing rang.
        assert await console.evaluate("window.__audio") == ["running"]
        assert await tones(console) == []
        assert await notices(console) == []
        await settings_are(ben, {REQUEST_SOUND})
        await console.reload()
        await settings_are(console, {MESSAGE_NOTICE})

        # The drawn favicon broke nothing of the workspace's CSP, in either page.
        assert await console.evaluate("window.__csp") == []
        assert await ben.evaluate("window.__csp") == []
