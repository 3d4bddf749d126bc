"""The visitor's connection drops, the counsellor transfers the chat meanwhile (the
``transferred`` event reaches nobody); back online, the widget sees from the resume answer
that someone else holds the chat and says a continued hello, so the colleague can write."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from chatserver.config import Config
from tests.support.browser import chromium, widget_server
from tests.support.e2e_clients import E2ECounsellor, Pki

pytestmark = pytest.mark.browser


async def test_widget_offline_during_a_transfer_greets_the_new_counsellor_on_return(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    # The test default of one second would end the chat before socket.io's reconnect delay.
    async with widget_server(make_config, tmp_path, pki, visitor_grace_s=60.0) as h, \
            chromium() as browser:
        anna = E2ECounsellor(await h.counsellor("anna", "Anna"), pki.identity("Anna"))
        bert = E2ECounsellor(await h.counsellor("bert", "Bert"), pki.identity("Bert"))
        context = await browser.new_context()
        visitor = await context.new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await visitor.get_by_text("Du bist auf Platz 1").wait_for()
        chat_id = (await anna.raw.sync())["queue"][0]["chat_id"]
        await anna.accept(chat_id)
        peer = visitor.locator("#peer")
        await peer.get_by_text(re.compile("Du schreibst mit Anna")).wait_for()

        await context.set_offline(True)
        await anna.raw.expect("presence")  # the visitor is away
        assert (await anna.raw.transfer(chat_id, "bert"))["ok"]
        bert.raw.adopt((await bert.raw.expect("assigned"))["chat"])
        greeted = asyncio.create_task(bert.handshake(chat_id, timeout=30))
        await context.set_offline(False)

        got = await greeted
        # Bert held no session in this chat: he cannot check the tag, and needs not warn.
        assert got.payload["continued"] is False and chat_id not in bert.newcomers
        await peer.get_by_text(re.compile("Du schreibst mit Bert")).wait_for()
        assert bert.sessions[chat_id].safety_number() in (await peer.text_content() or "")
        await visitor.get_by_label("Nachricht", exact=True).fill("Hallo Bert")
        await visitor.keyboard.press("Enter")
        assert await bert.receive_text(chat_id) == "Hallo Bert"
        await bert.send_text(chat_id, "Hallo, ich bin Bert")
        await visitor.locator("#log li.them", has_text="Hallo, ich bin Bert").wait_for()
