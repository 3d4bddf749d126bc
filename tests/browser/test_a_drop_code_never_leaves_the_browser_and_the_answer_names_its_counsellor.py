"""A message drop the way people use it (issue 15): nobody is on duty, the visitor writes, the
widget shows a code it made itself; Anna (console, demo mode certifies her key) reads and
answers; later the visitor types the code back, sloppily, and reads the answer under Anna's
pseudonym. The code never crosses the wire in any spelling, is never sent as a hand-off
codename, and is in no database row; question and answer are ciphertext there."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, Request, WebSocket

from chatserver import crypto
from chatserver.config import Config
from chatserver.web.appkeys import RECORDS, USERS
from tests.support.browser import PASSWORD, chromium, login, show_view, widget_server
from tests.support.database import database_rows
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of

pytestmark = pytest.mark.browser

QUESTION, REPLY = "KANARIE-drop-frage-31", "KANARIE-drop-antwort-32"


async def test_a_drop_is_answered_by_a_certified_counsellor_and_its_code_stays_home(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    wire: list[str] = []

    def record(page: Page) -> None:
        def socket(ws: WebSocket) -> None:
            ws.on("framesent", lambda p: wire.append(str(p)))
            ws.on("framereceived", lambda p: wire.append(str(p)))

        def request(req: Request) -> None:
            wire.append(req.url + " " + (req.post_data or ""))

        page.on("websocket", socket)
        page.on("request", request)

    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        anna_uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        anna = await (await browser.new_context()).new_page()
        record(anna)
        await login(anna, h.url, "akeller", totp_of(anna_uri).now())
        await anna.get_by_text("Aktenschlüssel entsperrt").wait_for()

        visitor = await (await browser.new_context()).new_page()
        record(visitor)
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_text("Gerade ist niemand im Dienst").wait_for()
        await visitor.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(
            QUESTION)
        await visitor.get_by_role("button", name="Nachricht hinterlassen").click()
        await visitor.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()
        code = (await visitor.locator("#drop-codename").text_content() or "").strip()
        assert re.fullmatch(r"[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){4}", code), code
        drops = await h.app[RECORDS].list_drops()
        stored = await h.app[RECORDS].open_drop(drops[0]["drop_id"])
        assert QUESTION not in str(stored)
        assert stored["lookup"] == crypto.b64encode(crypto.drop_keys(code).lookup)

        await show_view(anna, "Anonyme Nachrichten")
        await anna.get_by_role("button", name="Nachrichten laden").click()
        await anna.get_by_role("button", name="Lesen").click()
        await anna.get_by_text(QUESTION).wait_for()
        await anna.get_by_label("Antwort").fill(REPLY)
        await anna.get_by_role("button", name="Antworten").click()
        await anna.get_by_text("Antwort gespeichert").wait_for()
        assert REPLY not in str(await h.app[RECORDS].open_drop(drops[0]["drop_id"]))
        # Once answered, the console offers no second answer (and the server takes none).
        await show_view(anna, "Anonyme Nachrichten")
        await anna.get_by_role("button", name="Nachrichten laden").click()
        await anna.get_by_role("button", name="Lesen").click()
        await anna.get_by_text(re.compile("Bereits beantwortet")).wait_for()
        assert await anna.get_by_role("button", name="Antworten").is_disabled()

        # Back later, typed as a person might: capitals, spaces instead of hyphens, o for 0.
        typed = code.upper().replace("-", " ").replace("0", "O")
        later = await (await browser.new_context()).new_page()
        record(later)
        await later.goto(h.url + "/widget/frame")
        await later.get_by_text("Ich habe ein Codewort").click()
        await later.get_by_label("Codewort").fill(typed)
        await later.get_by_role("button", name="Weiter").click()
        await later.get_by_text(f"Antwort von Anna aus der Beratung: {REPLY}").wait_for()

    canonical = code.replace("-", "")
    spellings = {code, canonical, code.upper(), canonical.upper(), typed}
    frames = "\n".join(wire)
    assert '"drop_check"' in frames and '"lookup"' in frames, "the recording saw the drop"
    assert '"return"' not in frames, "a drop code went out as a hand-off codename"
    rows = database_rows(tmp_path / "test.sqlite3")
    assert b"drops: (" in rows
    for spelling in spellings:
        assert spelling not in frames, "the drop code crossed the wire"
        assert spelling.encode() not in rows, "the drop code is in the database"
    for canary in (QUESTION, REPLY):
        assert canary.encode() not in rows
