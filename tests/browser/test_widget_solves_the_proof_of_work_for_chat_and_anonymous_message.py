"""Proof of work switched on (``CHATSERVER_CHALLENGE_BITS``, as docs/security.md advises during
a flood): the real widget in Chromium solves the server's puzzle in the background, says so
next to the button that started it, and gets its chat, its anonymous message and its codename
lookup; the server refuses nothing. On a desktop window and at 390×844."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, FrameLocator, Page, Route, WebSocket

from chatserver import crypto
from chatserver.config import Config
from chatserver.web.appkeys import RECORDS
from chatserver.web.metrics import METRICS
from tests.support.accounts import ensure_account
from tests.support.browser import chromium, widget_server
from tests.support.e2e_clients import E2ECounsellor, Pki
from tests.support.harness import Harness

pytestmark = pytest.mark.browser

# About 65 000 tries on average: a fraction of a second in Chromium's worker.
BITS = 16
CANARY_OUT = "KANARIE-pow-raus-1618"
CANARY_IN = "KANARIE-pow-rein-2718"
CANARY_DROP = "KANARIE-pow-nachricht-3141"
PHONE = {"width": 390, "height": 844}

# Notes (through the DevTools protocol, so the frame's CSP does not apply) each time the
# proof-of-work note is shown: the id of the element it sits after, and any text it shows.
WATCH_WORK = """() => {
  window.__work = [];
  window.__workText = [];
  const note = document.getElementById("work");
  new MutationObserver(() => {
    if (!note.hidden) window.__work.push(note.previousElementSibling.id);
  }).observe(note, { attributes: true, attributeFilter: ["hidden"] });
  new MutationObserver(() => {
    const text = document.getElementById("work-text").textContent;
    if (text) window.__workText.push(text);
  }).observe(note, { childList: true, subtree: true, characterData: true });
}"""


def proofs_sent(frames: list[str]) -> int:
    """How many proofs the widget redeemed (``challenge {"proof": ...}``)."""
    return sum(1 for f in frames if re.search(r'\["challenge",\{"proof":"\d+"\}\]', f))


def refused(h: Harness, code: str) -> float:
    """The server's count of events it refused with ``code``."""
    value = h.app[METRICS].registry.get_sample_value("erstkontakt_events_refused_total",
                                                     {"code": code})
    return value or 0.0


async def open_widget(browser: Browser, h: Harness, viewport: dict[str, int] | None
                      ) -> tuple[Page, FrameLocator, list[str], list[str]]:
    """The demo host page with the widget opened from its launcher; the frames the widget
    sends over its sockets, and the scripts of the workers it starts, are collected."""
    context = await browser.new_context(**({"viewport": viewport} if viewport else {}))
    page = await context.new_page()
    sent: list[str] = []
    workers: list[str] = []

    def on_ws(ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: sent.append(str(payload)))

    page.on("websocket", on_ws)
    page.on("worker", lambda worker: workers.append(worker.url))
    await page.goto(h.url + "/demo")
    await page.get_by_role("button", name="Anonym chatten").click()
    chat = page.frame_locator("iframe")
    await chat.get_by_role("button", name="Chat beginnen").wait_for(state="attached")
    frame = page.frames[-1]
    await frame.evaluate(WATCH_WORK)
    return page, chat, sent, workers


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
async def test_widget_pays_the_proof_of_work_and_chats_and_leaves_a_message(
    make_config: Callable[..., Config], tmp_path: Path, viewport: dict[str, int] | None
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki, challenge_bits=BITS) as h, \
            chromium() as browser:
        # Without a proof the server refuses (the setting is really on).
        bare = await h.visitor()
        assert (await bare.request())["error"] == "challenge"
        before = refused(h, "challenge")

        # A chat: request, accepted, messages both ways.
        counsellor = E2ECounsellor(await h.counsellor("anna", "Anna"), pki.identity("Anna"))
        page, chat, sent, workers = await open_widget(browser, h, viewport)
        await chat.get_by_role("button", name="Chat beginnen").click()
        await chat.get_by_text("Du bist auf Platz 1").wait_for()
        assert proofs_sent(sent) == 1
        queue = (await counsellor.raw.sync())["queue"]
        chat_id = queue[0]["chat_id"]
        await counsellor.accept(chat_id)
        await chat.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        await chat.get_by_label("Nachricht", exact=True).fill(CANARY_OUT)
        await chat.get_by_role("button", name="Senden").click()
        assert await counsellor.receive_text(chat_id) == CANARY_OUT
        await counsellor.send_text(chat_id, CANARY_IN)
        await chat.get_by_text(CANARY_IN).wait_for()
        work = await page.frames[-1].evaluate("window.__work")
        assert work == ["start"], work
        # Solved in the background, in the widget's worker.
        assert workers == [h.url + "/widget/static/pow-worker.js"]
        await chat.get_by_role("button", name="Chat beenden", exact=True).click()
        await counsellor.raw.duty(False)

        # Nobody on duty: an anonymous message, then its codename looked up.
        await install_records_key(h, pki)
        page, chat, sent, workers = await open_widget(browser, h, viewport)
        await chat.get_by_text("Gerade ist niemand im Dienst").wait_for()
        await chat.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(
            CANARY_DROP)
        await chat.get_by_role("button", name="Nachricht hinterlassen").click()
        await chat.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()
        codename = (await chat.locator("#drop-codename").text_content() or "").strip()
        assert crypto.drop_code(codename), codename
        drops = await h.app[RECORDS].list_drops()
        assert len(drops) == 1
        assert CANARY_DROP not in str(await h.app[RECORDS].open_drop(drops[0]["drop_id"]))
        assert proofs_sent(sent) == 1

        await chat.get_by_text("Ich habe ein Codewort").click()
        await chat.get_by_label("Codewort").fill(codename)
        await chat.get_by_role("button", name="Weiter").click()
        await chat.get_by_text("Noch keine Antwort").wait_for()
        # A message's code never goes to `return`: one proof, for the lookup.
        assert proofs_sent(sent) == 2
        frame = page.frames[-1]
        assert await frame.evaluate("window.__work") == ["drop-send", "return-go"]
        assert workers == [h.url + "/widget/static/pow-worker.js"] * 2
        # The note said what happens at least once, and went away when done.
        texts: list[Any] = await frame.evaluate("window.__workText")
        assert texts and all("Rechenaufgabe" in text for text in texts), texts
        assert await chat.locator("#work").is_hidden()
        assert await chat.get_by_role("button", name="Weiter").is_enabled()

        # Every proof the widget sent was good: the server refused none.
        assert refused(h, "challenge") == before


async def install_records_key(h: Harness, pki: Pki) -> None:
    """The team's records key, as a counsellor's console would have created it and the
    organisation certified it (anonymous messages are sealed to it only then)."""
    records = h.app[RECORDS]
    holder = await ensure_account(records.engine, "bea", "Bea", "counsellor")
    proof = pki.identity("Bea").box_registration(crypto.box_keypair()[1])
    await records.keyring.register(holder, proof["box_pk"], proof["box_sig"],
                                   proof["certificate"])
    records_pk = crypto.box_keypair()[1]
    await records.keyring.init(holder, crypto.b64encode(records_pk), "c2VhbGVk", time.time())
    await records.keyring.set_records_certificate(pki.records_certificate(records_pk))


# A worker that answers at once with a proof that solves nothing.
LYING_WORKER = 'onmessage = () => postMessage({ proof: "0" });'


@pytest.mark.parametrize("worker", ["missing", "lying"])
async def test_without_a_worker_or_with_a_wrong_answer_the_widget_solves_on_its_own(
    make_config: Callable[..., Config], tmp_path: Path, worker: str
) -> None:
    # Slower on the page's own thread (one WebCrypto digest per try): fewer bits.
    async with widget_server(make_config, tmp_path, Pki(), challenge_bits=12) as h, \
            chromium() as browser:
        await h.counsellor("anna", "Anna")
        context = await browser.new_context()
        served: list[str] = []

        async def lie(route: Route) -> None:
            served.append(route.request.url)
            await route.fulfill(body=LYING_WORKER, content_type="text/javascript")

        if worker == "missing":
            await context.add_init_script("delete globalThis.Worker;")
        else:
            await context.route("**/widget/static/pow-worker.js", lie)
        page = await context.new_page()
        sent: list[str] = []
        workers: list[str] = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(str(p))))
        page.on("worker", lambda w: workers.append(w.url))
        before = refused(h, "challenge")
        await page.goto(h.url + "/widget/frame")
        await page.get_by_role("button", name="Chat beginnen").click()
        await page.get_by_text("Du bist auf Platz 1").wait_for()
        assert proofs_sent(sent) == 1
        assert refused(h, "challenge") == before
        # The case really happened: no worker at all, or the lying one ran and was ignored.
        assert (workers, served) == (([], []) if worker == "missing" else
                                     ([h.url + "/widget/static/pow-worker.js"],) * 2)


async def test_the_worker_can_fetch_nothing(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    """The worker runs under its own response's policy (default-src 'none')."""
    async with widget_server(make_config, tmp_path, Pki()) as h, chromium() as browser:
        page = await (await browser.new_context()).new_page()
        await page.goto(h.url + "/widget/frame")
        async with page.expect_worker() as started:
            await page.evaluate(
                'new Worker("/widget/static/pow-worker.js", { type: "module" }); undefined')
        worker = await started.value
        outcome = await worker.evaluate(
            'fetch("/healthz").then(() => "fetched", (err) => "refused: " + err.name)')
        assert outcome == "refused: TypeError", outcome
        # The same fetch from the page itself goes through: the refusal is the worker's policy.
        assert await page.evaluate('fetch("/healthz").then((r) => r.status)') == 200
