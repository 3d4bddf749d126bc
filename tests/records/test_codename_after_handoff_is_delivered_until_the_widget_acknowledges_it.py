"""The codename of a hand-off is the visitor's only way back to their record: it comes again
on every resume until the widget acknowledges it, even when the chat ended meanwhile."""

from __future__ import annotations

import base64
import os

from tests.support.clients import CounsellorClient, VisitorClient
from tests.support.harness import Harness


async def handed_off(harness: Harness) -> tuple[CounsellorClient, VisitorClient]:
    anna = await harness.counsellor("anna", "Anna")
    visitor = await harness.visitor()
    assert (await visitor.request())["ok"]
    assert (await anna.accept(visitor.chat_id))["ok"]
    await visitor.expect("accepted")
    assert (await visitor.call("consent", {"answer": "yes", "version": "v2"}))["ok"]
    await anna.expect("consent")
    sealed = base64.b64encode(os.urandom(80)).decode()
    body = base64.b64encode(os.urandom(120)).decode()
    answer = await anna.call("handoff", {"chat_id": visitor.chat_id, "consent_version": "v2",
                                         "sealed_key": sealed, "body": body})
    assert answer["ok"], answer
    return anna, visitor


async def resumed(harness: Harness, token: str) -> tuple[VisitorClient, dict[str, object]]:
    client = VisitorClient(harness.url)
    harness.track(client)
    await client.connect()
    return client, await client.resume(token)


async def test_codename_comes_again_on_resume_until_acknowledged(harness: Harness) -> None:
    _, visitor = await handed_off(harness)
    codename = (await visitor.expect("codename"))["codename"]
    token = visitor.resume_token
    # The widget was gone before it could show it: the next resume brings it again.
    await visitor.disconnect()
    second, answer = await resumed(harness, token)
    assert answer["status"] == "active"
    assert (await second.expect("codename")) == {"codename": codename}
    assert (await second.call("codename_ack", {"codename": codename}))["ok"]
    await second.disconnect()
    third, answer = await resumed(harness, token)
    assert answer["status"] == "active"
    assert await third.nothing("codename")
    assert (await third.call("codename_ack", {"codename": "x"}))["error"] == "invalid"


async def test_a_visitor_away_when_the_chat_ends_gets_the_codename_on_resume(
    harness: Harness,
) -> None:
    anna, visitor = await handed_off(harness)
    codename = (await visitor.expect("codename"))["codename"]
    token = visitor.resume_token
    await visitor.disconnect()
    assert (await anna.end(visitor.chat_id))["ok"]
    again, answer = await resumed(harness, token)
    assert answer == {"ok": True, "status": "ended", "codename": codename}
    # The ended chat stays ended: nothing can be sent into it.
    assert (await again.call("send", {"seq": 1, "ct": "AAAA"}))["error"] == "bad_state"


async def test_an_acknowledged_codename_does_not_outlive_the_chat(harness: Harness) -> None:
    anna, visitor = await handed_off(harness)
    codename = (await visitor.expect("codename"))["codename"]
    assert (await visitor.call("codename_ack", {"codename": codename}))["ok"]
    token = visitor.resume_token
    await visitor.disconnect()
    assert (await anna.end(visitor.chat_id))["ok"]
    _, answer = await resumed(harness, token)
    assert answer["error"] == "not_found"
