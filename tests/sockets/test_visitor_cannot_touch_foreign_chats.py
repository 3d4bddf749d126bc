"""Ownership: visitors only ever reach their own chat; counsellors only their assigned ones."""

from __future__ import annotations

import pytest
import socketio

from tests.support.clients import CounsellorClient, VisitorClient, random_ct
from tests.support.harness import Harness


async def test_visitor_cannot_send_ack_or_end_another_chat(harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    victim, attacker = await harness.visitor(), await harness.visitor()
    await victim.request()
    await anna.accept(victim.chat_id)
    # The attacker knows the victim's chat id but holds no chat: every action is refused.
    assert (await attacker.call("send", {"seq": 1, "ct": random_ct()}))["error"] == "bad_state"
    assert (await attacker.call("end", {}))["error"] == "bad_state"
    # The chat id is not a credential: it cannot be used to resume.
    assert (await attacker.call("resume", {"token": victim.chat_id}))["error"] == "not_found"
    await attacker.request()
    # Its own chat is separate; nothing leaks across.
    assert (await attacker.call("ack", {"upto": 10}))["error"] == "bad_state"
    assert await victim.nothing("ended") and await anna.nothing("msg")


async def test_counsellor_cannot_touch_a_colleagues_chat(harness: Harness) -> None:
    _, visitor = await harness.accepted_chat()
    ben = await harness.counsellor("ben", "Ben")
    assert (await ben.send(visitor.chat_id, random_ct(), seq=1))["error"] == "forbidden"
    assert (await ben.ack(visitor.chat_id, 1))["error"] == "forbidden"
    assert (await ben.end(visitor.chat_id))["error"] == "forbidden"
    assert (await ben.transfer(visitor.chat_id, "anna"))["error"] == "forbidden"
    assert (await ben.accept(visitor.chat_id))["error"] == "taken"
    assert await visitor.nothing("msg") and await visitor.nothing("ended")


async def test_counsellor_namespace_refuses_missing_wrong_and_supervisor_tokens(
    harness: Harness,
) -> None:
    for auth in [None, {}, {"token": "x" * 43}, {"token": 5}]:
        client = CounsellorClient(harness.url, "")  # auth None: an empty token
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(auth=auth)
        assert not client.connected, auth
    with pytest.raises(ValueError):
        await harness.token("sue", role="supervisor")


async def test_socket_from_foreign_origin_is_refused(harness: Harness) -> None:
    client = VisitorClient(harness.url, headers={"Origin": "https://evil.example"})
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(transports=["polling"])
    assert not client.connected
