"""jslib/e2e.js runs in Chromium as the pages load it: tweetnacl as a classic script, the module
by import, under a CSP of ``script-src 'self'``; it reproduces the shared vectors there."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from chatserver import crypto
from tests.support.browser import chromium
from tests.support.paths import ROOT, VECTORS

CSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'"
PAGE = """<!doctype html><meta charset="utf-8"><title>e2e</title>
<script src="/node_modules/tweetnacl/nacl-fast.min.js"></script>"""

RUN = """async () => {
  const e2e = { ...(await import("/jslib/e2e.js")), ...(await import("/jslib/e2e-keys.js")),
    ...(await import("/jslib/e2e-counsellor.js")) };
  const V = await (await fetch("/tests/vectors/e2e.json")).json();
  const fixed = (...hexes) => { const q = hexes.map(e2e.fromHex); return () => q.shift(); };
  const v = e2e.createVisitorSession({orgPublicKey: V.org.public_key, chatId: V.handshake.chat_id,
    revocationList: V.revocations.list, now: V.now, random: fixed(V.handshake.visitor_esk)});
  const c = e2e.createCounsellorSession({identitySecretKey: e2e.fromHex(V.identity.seed),
    certificate: V.certificate, chatId: V.handshake.chat_id,
    random: fixed(V.handshake.counsellor_esk)});
  const out = {hello: e2e.hex(v.hello())};
  const reply = c.receive(v.hello()).reply;
  out.reply = e2e.hex(reply);
  out.pseudonym = v.receive(reply).payload.pseudonym;
  out.safety = v.safetyNumber();
  out.frames = V.messages.map((m) => {
    const [src, dst] = m.from === "visitor" ? [v, c] : [c, v];
    const frame = src.encrypt(m.payload, {nonce: e2e.fromHex(m.nonce)});
    return {same: e2e.hex(frame) === m.frame,
            opened: JSON.stringify(dst.receive(frame).payload) === JSON.stringify(m.payload)};
  });
  const kp = e2e.boxKeyPair();
  out.sealed = e2e.b64encode(e2e.seal(kp.publicKey, e2e.utf8("from the browser")));
  out.sk = e2e.b64encode(kp.secretKey);
  out.pk = e2e.b64encode(kp.publicKey);
  return out;
}"""


def _app() -> web.Application:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def no_icon(_: web.Request) -> web.Response:
        return web.Response(status=204)

    @web.middleware
    async def csp(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        response.headers["Content-Security-Policy"] = CSP
        return response

    app = web.Application(middlewares=[csp])
    app.router.add_get("/", page)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_static("/node_modules/tweetnacl", ROOT / "node_modules" / "tweetnacl")
    app.router.add_static("/jslib", ROOT / "jslib")
    app.router.add_static("/tests/vectors", VECTORS)
    return app


@pytest.mark.browser
async def test_the_module_reproduces_the_vectors_in_chromium(
    aiohttp_server: Callable[..., Any],
) -> None:
    server = await aiohttp_server(_app())
    vectors = json.loads((VECTORS / "e2e.json").read_text("utf-8"))
    errors: list[str] = []
    async with chromium() as browser:
        page = await browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(str(server.make_url("/")))
        out = await page.evaluate(RUN)
    assert not errors
    assert out["hello"] == vectors["handshake"]["visitor_hello"]
    assert out["reply"] == vectors["handshake"]["counsellor_hello"]
    assert out["pseudonym"] == vectors["handshake"]["pseudonym"]
    assert out["safety"] == vectors["handshake"]["safety_number"]
    assert out["frames"] == [{"same": True, "opened": True}] * len(vectors["messages"])
    opened = crypto.open_sealed(crypto.b64decode(out["sk"]), crypto.b64decode(out["pk"]),
                                crypto.b64decode(out["sealed"]))
    assert opened == b"from the browser"
