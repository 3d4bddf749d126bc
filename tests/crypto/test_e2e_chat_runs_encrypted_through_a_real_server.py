"""The E2E test clients hold an encrypted chat through a real server, on both backends."""

from __future__ import annotations

import asyncio

from tests.support.e2e_clients import E2EVisitor, Pki, open_chat
from tests.support.harness import Harness


async def test_open_chat_gives_an_encrypted_chat_on_the_harness(harness: Harness) -> None:
    visitor, anna = await open_chat(harness, Pki())
    assert (await visitor.send_text("hallo"))["ok"]
    assert await anna.receive_text(visitor.chat_id) == "hallo"
    assert (await anna.send_text(visitor.chat_id, "willkommen"))["ok"]
    assert await visitor.receive_text() == "willkommen"


async def test_a_visitor_who_lost_the_page_resumes_with_a_fresh_handshake(
    harness: Harness,
) -> None:
    pki = Pki()
    visitor, anna = await open_chat(harness, pki)
    assert (await visitor.send_text("vor dem Neuladen"))["ok"]
    assert await anna.receive_text(visitor.chat_id) == "vor dem Neuladen"
    old_session = anna.sessions[visitor.chat_id]

    # The page is reloaded: new connection, no keys; the resume token survived. Everything
    # sent before was acknowledged, so the relay replays nothing old.
    await visitor.raw.disconnect()
    reloaded = E2EVisitor(await harness.visitor(), pki)
    assert (await reloaded.raw.resume(visitor.raw.resume_token))["status"] == "active"
    await asyncio.gather(reloaded.handshake(None), anna.handshake(reloaded.chat_id))
    assert anna.sessions[reloaded.chat_id] is not old_session
    assert (await reloaded.send_text("nach dem Neuladen"))["ok"]
    assert await anna.receive_text(reloaded.chat_id) == "nach dem Neuladen"
    assert (await anna.send_text(reloaded.chat_id, "gut"))["ok"]
    assert await reloaded.receive_text() == "gut"
