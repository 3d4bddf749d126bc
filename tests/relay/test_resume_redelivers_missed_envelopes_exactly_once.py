"""A visitor or counsellor that reconnects gets exactly what it missed, in order, once."""

from __future__ import annotations

from tests.support.clients import VisitorClient, random_ct
from tests.support.harness import Harness


async def test_visitor_resume_gets_only_unacknowledged_envelopes(harness: Harness) -> None:
    anna, visitor = await harness.accepted_chat()
    await visitor.expect("accepted")

    sent = [random_ct(100 + i) for i in range(6)]
    for ct in sent[:2]:
        await anna.send(visitor.chat_id, ct)
    assert [(await visitor.expect("msg"))["ct"] for _ in range(2)] == sent[:2]
    await visitor.ack(2)
    await visitor.send(random_ct())  # visitor's seq 1
    await visitor.disconnect()
    assert (await anna.expect("presence"))["present"] is False

    for ct in sent[2:]:
        assert (await anna.send(visitor.chat_id, ct))["ok"]

    again = VisitorClient(harness.url)
    harness.track(again)
    await again.connect()
    answer = await again.resume(visitor.resume_token)
    assert answer["ok"] and answer["status"] == "active" and answer["pseudonym"] == "Anna"
    assert answer["next_seq"] == 2  # the visitor's own sending direction continues
    replayed = [await again.expect("msg") for _ in sent[2:]]
    assert replayed == [{"seq": i + 3, "ct": ct} for i, ct in enumerate(sent[2:])]
    assert await again.nothing("msg")
    assert (await anna.expect("presence"))["present"] is True

    # A second reconnect after acknowledging gets nothing again.
    await again.ack(6)
    await again.disconnect()
    third = VisitorClient(harness.url)
    harness.track(third)
    await third.connect()
    assert (await third.resume(visitor.resume_token))["ok"]
    assert await third.nothing("msg")
    # And its next message continues the sequence without a gap.
    assert (await third.send(random_ct())) == {"ok": True, "dup": False}


async def test_queued_visitor_resumes_its_place(harness: Harness) -> None:
    first, second = await harness.visitor(), await harness.visitor()
    await first.request()
    await second.request()
    await second.disconnect()
    again = VisitorClient(harness.url)
    harness.track(again)
    await again.connect()
    answer = await again.resume(second.resume_token)
    assert answer["status"] == "queued" and answer["position"] == 2


async def test_counsellor_reconnect_gets_unacknowledged_visitor_envelopes(
    harness: Harness,
) -> None:
    token = await harness.token("anna", pseudonym="Anna")
    from tests.support.clients import CounsellorClient

    anna = CounsellorClient(harness.url, token)
    harness.track(anna)
    await anna.connect()
    await anna.duty(True)
    visitor = await harness.visitor()
    await visitor.request()
    await anna.accept(visitor.chat_id)
    first = random_ct()
    await visitor.send(first)
    assert (await anna.expect("msg"))["ct"] == first
    await anna.ack(visitor.chat_id, 1)
    await anna.disconnect()
    missed = [random_ct(), random_ct()]
    for ct in missed:
        await visitor.send(ct)

    back = CounsellorClient(harness.url, token)
    harness.track(back)
    await back.connect()
    sync = await back.sync()
    assert sync["on_duty"] is True
    assert [c["chat_id"] for c in sync["chats"]] == [visitor.chat_id]
    got = [await back.expect("msg") for _ in missed]
    assert [m["ct"] for m in got] == missed and [m["seq"] for m in got] == [2, 3]
    assert await back.nothing("msg")
