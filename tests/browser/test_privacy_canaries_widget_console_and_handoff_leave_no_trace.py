"""The privacy canary run in real browsers: widget, console and hand-off.

A visitor in Chromium, with a canary User-Agent and canary X-Forwarded-For and X-Real-IP
headers, reaches the server from its own address, 127.0.0.77 (through a proxy that binds it:
loopback connections to 127.0.0.77 would otherwise come from 127.0.0.1). It opens the widget
on the demo host page and chats end to end with a counsellor in the console (Chromium, from
127.0.0.1), consents when asked, is transferred to a colleague who hands the chat off into a
case record, notes the codename, and later comes back with it to the console. The server runs
as in production: Redis state, an SQLite database, no access log.

Afterwards every WebSocket frame both browsers sent and received, every HTTP answer the
console got, every Redis key and value, every database row and the raw database files, and
every log record are scanned for the plaintexts, the address, the User-Agent and both
forwarded addresses: none is found.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import nacl.secret
import pytest
from aiohttp import web
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Response, WebSocket

from chatserver import crypto
from chatserver.admin import demo
from chatserver.config import Config
from chatserver.main import create_app
from chatserver.web.appkeys import CONFIG, USERS
from tests.support.browser import PASSWORD, chromium, login, shown_codename
from tests.support.database import database_rows
from tests.support.e2e_clients import E2ECounsellor, Identity
from tests.support.harness import Harness, totp_of
from tests.support.proxy import RecordingProxy, loopback_peers
from tests.support.redis_server import RedisServer, free_port
from tests.support.waiting import eventually

pytestmark = [pytest.mark.browser, pytest.mark.hardening]

ADDRESS = "127.0.0.77"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) KanarienBrowser/77.0 UA-9d4e77"
FORWARDED = "198.51.100.177"
REAL_IP = "203.0.113.177"
VISITOR_SAYS = "KANARIE-besucher-will-raus-5e1"
ANNA_SAYS = "KANARIE-anna-antwortet-7a2"
BEN_SAYS = "KANARIE-ben-uebernimmt-3c9"
RECORD_SAYS = "KANARIE-aktennotiz-8b4"
RETURN_SAYS = "KANARIE-wieder-da-6f0"
PLAINTEXTS = [VISITOR_SAYS, ANNA_SAYS, BEN_SAYS, RECORD_SAYS, RETURN_SAYS]


async def test_browser_visit_with_handoff_and_return_leaves_no_trace(
    make_config: Callable[..., Config], tmp_path: Path, redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    redis_server.flush()
    port = free_port()
    direct = f"http://127.0.0.1:{port}"
    proxy = RecordingProxy("127.0.0.1", port, source=ADDRESS)
    await proxy.start()
    visitor_origin = proxy.url
    database = tmp_path / "db.sqlite3"
    config = demo.prepare(make_config(
        port=port, redis_url=redis_server.url, database_url=f"sqlite:///{database}",
        public_origins=(direct, visitor_origin), embed_origins=(visitor_origin,),
        exit_url=visitor_origin + "/healthz", demo=True))
    app = create_app(config)
    # As the chatserver command runs it: no access log.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    h = Harness(app, direct)
    frames: list[str] = []
    answers: list[str] = []
    pending: list[asyncio.Task[None]] = []
    unread: list[str] = []

    def record(ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: frames.append(str(payload)))
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    async def keep(response: Response) -> None:
        try:
            # Playwright never hands over the body of an answer the page did not wait for
            # (the console stores its new key wrap and moves on): noted below, not waited for.
            body = await asyncio.wait_for(response.body(), 10)
        except PlaywrightError:  # a redirect or an aborted request has no body
            return
        except TimeoutError:
            unread.append(urlsplit(response.url).path)
            return
        answers.append(body.decode("utf-8", "replace"))

    try:
        uri = await app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        ben_key = crypto.SigningSeed.generate()
        ben = E2ECounsellor(await h.counsellor("ben", "Ben"),
                            Identity(ben_key, demo.certify(app[CONFIG], ben_key.public_key,
                                                           "Ben")))
        async with chromium() as browser:
            console_ctx = await browser.new_context()
            console = await console_ctx.new_page()
            console.set_default_timeout(15_000)
            console.on("websocket", record)
            console.on("response", lambda r: pending.append(asyncio.ensure_future(keep(r))))
            await login(console, direct, "akeller", totp_of(uri).now())
            await console.get_by_role("button", name="Dienst beginnen").click()
            await console.get_by_text("Im Dienst").wait_for()

            visitor_ctx = await browser.new_context(
                user_agent=USER_AGENT,
                extra_http_headers={"X-Forwarded-For": FORWARDED, "X-Real-IP": REAL_IP})
            visitor = await visitor_ctx.new_page()
            visitor.set_default_timeout(15_000)
            visitor.on("websocket", record)
            await visitor.goto(visitor_origin + "/demo")
            await visitor.get_by_role("button", name="Anonym chatten").click()
            widget = visitor.frame_locator("iframe")
            await widget.get_by_role("button", name="Chat beginnen").click()
            await console.get_by_role("button", name="Annehmen").click()
            await widget.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")) \
                .wait_for()
            assert ADDRESS in loopback_peers(port)  # the server really sees 127.0.0.77

            await widget.get_by_label("Nachricht", exact=True).fill(VISITOR_SAYS)
            await widget.get_by_role("button", name="Senden").click()
            await console.get_by_text(VISITOR_SAYS).wait_for()
            await console.get_by_label("Nachricht", exact=True).fill(ANNA_SAYS)
            await console.get_by_role("button", name="Senden").click()
            await widget.get_by_text(ANNA_SAYS).wait_for()

            # Consent when asked, then a colleague takes over and hands the chat off.
            await console.get_by_role("button", name="Einwilligung erfragen") \
                .click()
            await widget.get_by_role("button", name="Ja, einverstanden").click()
            await console.get_by_text(re.compile("Einwilligung: ja")).wait_for()
            await console.get_by_label("Übergeben an").select_option(label="Ben")
            await console.get_by_role("button", name="Übergeben").click()
            assigned = await ben.raw.expect("assigned")
            chat_id = assigned["chat"]["chat_id"]
            ben.raw.adopt(assigned["chat"])
            await ben.handshake(chat_id)
            await ben.send_text(chat_id, BEN_SAYS)
            await widget.get_by_text(BEN_SAYS).wait_for()
            team_pk, _team_sk = crypto.box_keypair()
            record_key = os.urandom(32)
            body = nacl.secret.SecretBox(record_key).encrypt(
                f"{VISITOR_SAYS} / {ANNA_SAYS} / {BEN_SAYS} / {RECORD_SAYS}".encode())
            handed = await ben.raw.call("handoff", {
                "chat_id": chat_id, "consent_version": config.consent_version,
                "sealed_key": crypto.b64encode(crypto.seal(team_pk, record_key)),
                "body": crypto.b64encode(body)})
            assert handed["ok"], handed
            codename = (await widget.locator("#codename-value").text_content() or "").strip()
            if not codename:
                await widget.locator("#codename-value").get_by_text(re.compile(r"\w")).wait_for()
                codename = (await widget.locator("#codename-value").text_content() or "").strip()
            _, code = shown_codename(codename)
            assert (await ben.raw.end(chat_id))["ok"]
            await widget.get_by_text("Der Chat ist beendet").wait_for()
            assert (await ben.raw.duty(False))["ok"]

            # Later: back with the codename, to the console.
            again = await visitor_ctx.new_page()
            again.set_default_timeout(15_000)
            again.on("websocket", record)
            await again.goto(visitor_origin + "/demo")
            await again.get_by_role("button", name="Anonym chatten").click()
            widget = again.frame_locator("iframe")
            await widget.get_by_text("Ich habe ein Codewort").click()
            await widget.get_by_label("Codewort").fill(codename)
            await widget.get_by_role("button", name="Weiter").click()
            await console.get_by_role("button", name="Annehmen").click()
            await widget.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")) \
                .wait_for()
            await widget.get_by_label("Nachricht", exact=True).fill(RETURN_SAYS)
            await widget.get_by_role("button", name="Senden").click()
            await console.get_by_text(RETURN_SAYS).wait_for()
            ends_before = console_heard_ends(frames)
            await widget.get_by_role("button", name="Chat beenden", exact=True).click()
            await widget.get_by_text("Der Chat ist beendet").wait_for()
            await eventually(lambda: console_heard_ends(frames) > ends_before,
                             what="the console to hear of the end, too")
            await asyncio.gather(*pending)
            # Only the answer to storing a key wrap (an id, no visitor's data) went unread.
            assert set(unread) <= {"/console/api/keys"}, unread
            await visitor_ctx.close()
            await console_ctx.close()
    finally:
        await h.close()
        await runner.cleanup()
        await proxy.close()

    needles = {
        "plaintext": PLAINTEXTS,
        "address": [ADDRESS],
        "user agent": [USER_AGENT, "UA-9d4e77", "KanarienBrowser"],
        "forwarded": [FORWARDED, REAL_IP],
        # The reading code at the codename's end stays in the visitor's browser.
        "reading code": [code, code.upper(), code.replace("-", ""), code.replace("-", " ")],
    }
    # The recordings are real: the browser sent the canary headers, frames went both ways.
    assert USER_AGENT.encode() in proxy.up and FORWARDED.encode() in proxy.up
    assert len(frames) > 20 and answers
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    places: dict[str, bytes] = {
        "websocket frames": "\n".join(frames).encode(),
        "answers to the console": "\n".join(answers).encode(),
        "redis": redis_server.dump(),
        "database rows": database_rows(database),
        "database files": b"".join(p.read_bytes() for p in tmp_path.glob("db.sqlite3*")),
        "log": logged.encode(),
    }
    assert b"\nrecords: (" in b"\n" + places["database rows"], "the record is in the database"
    for where, data in places.items():
        for what, variants in needles.items():
            for needle in variants:
                raw = needle.encode()
                assert raw not in data, f"{what} found in {where}"
                assert base64.b64encode(raw) not in data, f"{what} (base64) found in {where}"


def console_heard_ends(frames: list[str]) -> int:
    """How many ``ended`` events the console's socket has received so far."""
    return sum(1 for f in frames if f.startswith('42/counsellor,["ended"'))
