"""The real widget in Chromium: chat with a counsellor, no plaintext on the wire, quick exit,
accessibility, weight budget and no request beyond the chat server."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, WebSocket

from chatserver.config import Config
from tests.support.browser import chromium, serious_violations, widget_server
from tests.support.e2e_clients import E2ECounsellor, Pki

pytestmark = pytest.mark.browser

CANARY_OUT = "KANARIE-widget-raus-4711"
CANARY_IN = "KANARIE-beraterin-0815"


async def test_widget_chat_quick_exit_axe_weight_and_origin(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki) as h, chromium() as browser:
        counsellor = E2ECounsellor(await h.counsellor("anna", "Anna"), pki.identity("Anna"))
        context = await browser.new_context()
        page = await context.new_page()
        frames: list[str] = []
        requests: list[str] = []
        sockets: list[WebSocket] = []

        def on_ws(ws: WebSocket) -> None:
            sockets.append(ws)
            ws.on("framesent", lambda payload: frames.append(str(payload)))
            ws.on("framereceived", lambda payload: frames.append(str(payload)))

        page.on("websocket", on_ws)
        page.on("request", lambda req: requests.append(req.url))
        await page.goto(h.url + "/demo")
        launcher = page.get_by_role("button", name="Anonym chatten")
        await launcher.click()
        chat = page.frame_locator("iframe")
        await chat.get_by_label("Fachkraft (z. B. Bewährungshilfe)").check()
        await chat.get_by_role("button", name="Chat beginnen").click()
        await chat.get_by_text("Du bist auf Platz 1").wait_for()

        queue = (await counsellor.raw.sync())["queue"]
        assert [i["entry"] for i in queue] == ["professional"]
        await counsellor.accept(queue[0]["chat_id"])
        chat_id = queue[0]["chat_id"]
        peer = chat.locator("#peer")
        await peer.get_by_text(re.compile(r"Du schreibst mit Anna\. Sicherheitsnummer")).wait_for()
        safety = counsellor.sessions[chat_id].safety_number()
        assert safety in (await peer.text_content() or "")

        await chat.get_by_label("Nachricht", exact=True).fill(CANARY_OUT)
        await chat.get_by_role("button", name="Senden").click()
        assert await counsellor.receive_text(chat_id) == CANARY_OUT
        await chat.get_by_text("zugestellt").wait_for()
        await counsellor.send_text(chat_id, CANARY_IN)
        await chat.get_by_text(CANARY_IN).wait_for()

        # Every frame the browser sent or received is ciphertext only.
        assert frames, "no websocket traffic recorded"
        for frame in frames:
            assert CANARY_OUT not in frame and CANARY_IN not in frame
        # Nothing left the chat server's origin.
        assert requests and all(url.startswith(h.url) for url in requests), requests

        # Quick exit: the host page leaves, storage is empty, the socket is closed.
        await chat.get_by_role("button", name="Schnell verlassen").click()
        await page.wait_for_url(h.url + "/healthz")
        assert await page.evaluate("sessionStorage.length + localStorage.length") == 0
        assert await context.cookies() == []
        assert all(ws.is_closed() for ws in sockets)
        ended = await counsellor.raw.expect("presence")
        assert ended == {"chat_id": chat_id, "present": False}
        await context.close()

        await check_accessibility(browser, h.url)
        await check_weight(h.url)


async def check_accessibility(browser: object, url: str) -> None:
    """axe-core (from npm), injected by the test, finds nothing serious on the chat page."""
    context = await browser.new_context(bypass_csp=True)  # type: ignore[attr-defined]
    page: Page = await context.new_page()
    await page.goto(url + "/widget/frame")
    await page.get_by_role("button", name="Chat beginnen").wait_for()
    assert await serious_violations(page) == []
    # Keyboard only: the first Tab lands on the quick exit, which is always visible.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "exit"
    await context.close()


async def check_weight(url: str) -> None:
    """What a visit loads before any opt-in (docs/benchmarks.md, "Widget weight") stays within
    40 KB gzipped; the modules loaded only on demand ("continue after reload", a proof of work
    the server asks for, leaving or checking a message) and the German catalog of the "Sicher
    schreiben" guide and the offline texts (drops.json) are served with the hash the frame
    names, each within 3 KB."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/widget/frame") as resp:
            page = (await resp.read()).decode()
        # Scripts and styles the page itself loads (not data-*-src, which it loads on demand).
        paths = ["/widget/embed.js", "/widget/static/i18n-de.json",
                 *re.findall(r'(?<![-\w])(?:src|href)="(/widget/static/[^"]+)"', page)]
        on_demand = dict(re.findall(r'data-([a-z]+)-src="(/widget/static/[^"]+)"', page))
        hashes = dict(re.findall(r'data-([a-z]+)-sri="([^"]+)"', page))
        wanted = {"reloadstate", "pow", "keys", "offline", "messages", "guide", "drops"}
        assert set(on_demand) == wanted == set(hashes), on_demand
        total = len(gzip.compress(page.encode(), 9))
        for path in paths:
            async with http.get(url + path) as resp:
                assert resp.status == 200, path
                total += len(gzip.compress(await resp.read(), 9))
        extra, sizes = 0, {}
        for name, path in [*on_demand.items(), ("worker", "/widget/static/pow-worker.js")]:
            async with http.get(url + path) as resp:
                assert resp.status == 200, path
                body = await resp.read()
            if name in hashes:
                digest = base64.b64encode(hashlib.sha384(body).digest()).decode()
                assert hashes[name] == "sha384-" + digest, name
            sizes[name] = len(gzip.compress(body, 9))
            extra += sizes[name]
    assert total <= 40 * 1024, f"widget weighs {total} bytes gzipped"
    # Each piece loaded on demand stays small (docs/benchmarks.md, "Widget weight").
    assert all(size <= 3 * 1024 for size in sizes.values()), sizes
    print(f"widget weight: {total} bytes gzipped, {total + extra} with everything on demand",
          sizes)
