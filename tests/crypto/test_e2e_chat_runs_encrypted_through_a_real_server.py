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


async def test_a_visitor_who_lost_the_page_gets_a_new_session_only_once_admitted(
    harness: Harness,
) -> None:
    pki = Pki()
    visitor, anna = await open_chat(harness, pki)
    assert (await visitor.send_text("vor dem Neuladen"))["ok"]
    assert await anna.receive_text(visitor.chat_id) == "vor dem Neuladen"
    old_session = anna.sessions[visitor.chat_id]

    # The page is reloaded: new connection, no keys kept; the resume token survived. Everything
    # sent before was acknowledged, so the relay replays nothing old.
    await visitor.raw.disconnect()
    reloaded = E2EVisitor(await harness.visitor(), pki)
    assert (await reloaded.raw.resume(visitor.raw.resume_token))["status"] == "active"
    # Its fresh hello is not vouched for by the chat's session: shown, not answered, until
    # the counsellor admits the newcomer (the console's warning, docs/protocol.md).
    hello = asyncio.create_task(reloaded.handshake(None))
    got = await anna.handshake(reloaded.chat_id)
    assert got.payload["continued"] is False
    assert anna.sessions[reloaded.chat_id] is old_session
    assert reloaded.chat_id in anna.newcomers and not hello.done()
    await anna.admit(reloaded.chat_id)
    await hello
    assert anna.sessions[reloaded.chat_id] is not old_session
    assert (await reloaded.send_text("nach dem Neuladen"))["ok"]
    assert await anna.receive_text(reloaded.chat_id) == "nach dem Neuladen"
    assert (await anna.send_text(reloaded.chat_id, "gut"))["ok"]
    assert await reloaded.receive_text() == "gut"
