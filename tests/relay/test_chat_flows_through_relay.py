"""A whole chat through the relay on both backends: queue, accept, envelopes, transfer, end."""

from __future__ import annotations

import asyncio

from tests.support.clients import random_ct
from tests.support.harness import Harness


async def test_visitor_is_queued_and_counsellor_sees_queue(harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    visitor = await harness.visitor()
    answer = await visitor.request("relative", "en")
    assert answer["ok"] and answer["position"] == 1 and answer["estimate_s"] > 0
    assert len(answer["resume"]) >= 22  # >= 128 bits of randomness, urlsafe base64
    queue = await anna.expect("queue")
    while not queue["items"]:
        queue = await anna.expect("queue")
    item = queue["items"][0]
    assert item["chat_id"] == visitor.chat_id
    assert item["entry"] == "relative" and item["lang"] == "en"
    assert set(item) == {"chat_id", "entry", "lang", "waiting_s"}


async def test_queue_positions_move_as_chats_are_accepted(harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    first, second = await harness.visitor(), await harness.visitor()
    assert (await first.request())["position"] == 1
    assert (await second.request())["position"] == 2
    assert (await anna.accept(first.chat_id))["ok"]
    update = await second.expect("queue")
    while update["position"] != 1:
        update = await second.expect("queue")
    assert update["estimate_s"] > 0


async def test_envelopes_flow_both_ways_in_order(harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    visitor = await harness.visitor()
    await visitor.request()
    accepted = await anna.accept(visitor.chat_id)
    assert accepted["ok"] and accepted["chat"]["next_seq"] == 1
    assert (await visitor.expect("accepted")) == {"pseudonym": "Anna"}

    to_counsellor = [random_ct(200 + i) for i in range(5)]
    for ct in to_counsellor:
        assert (await visitor.send(ct)) == {"ok": True, "dup": False}
    got = [await anna.expect("msg") for _ in to_counsellor]
    assert [m["ct"] for m in got] == to_counsellor
    assert [m["seq"] for m in got] == [1, 2, 3, 4, 5]
    assert {m["chat_id"] for m in got} == {visitor.chat_id}
    assert (await anna.ack(visitor.chat_id, 5))["ok"]
    assert (await visitor.expect("delivered")) == {"upto": 5}

    to_visitor = [random_ct(300 + i) for i in range(4)]
    for ct in to_visitor:
        assert (await anna.send(visitor.chat_id, ct))["ok"]
    back = [await visitor.expect("msg") for _ in to_visitor]
    assert back == [{"seq": i + 1, "ct": ct} for i, ct in enumerate(to_visitor)]
    assert (await visitor.ack(4))["ok"]
    assert (await anna.expect("delivered")) == {"chat_id": visitor.chat_id, "upto": 4}


async def test_resend_of_same_seq_is_accepted_once_and_relayed_again_until_acknowledged(
    harness: Harness,
) -> None:
    """A resend is the sender's only way to recover from a lost relay (a lost publish, a lost
    reply): the relay accepts the envelope once (``dup``), sends the buffered envelope to the
    receiver again while it is unacknowledged, and after that repeats only the receipt."""
    anna, visitor = await harness.accepted_chat()
    ct = random_ct()
    assert (await visitor.send(ct, seq=1)) == {"ok": True, "dup": False}
    assert (await anna.expect("msg")) == {"chat_id": visitor.chat_id, "seq": 1, "ct": ct}
    # A resend with other content changes nothing: the buffered envelope goes again.
    assert (await visitor.send(random_ct(), seq=1)) == {"ok": True, "dup": True}
    assert (await anna.expect("msg")) == {"chat_id": visitor.chat_id, "seq": 1, "ct": ct}
    assert await anna.nothing("msg")
    assert (await visitor.send(random_ct(), seq=2))["dup"] is False
    assert (await anna.expect("msg"))["seq"] == 2
    assert (await anna.ack(visitor.chat_id, 1))["ok"]
    assert (await visitor.expect("delivered")) == {"upto": 1}
    # Acknowledged: a resend is no longer relayed; the sender hears the receipt again.
    assert (await visitor.send(ct, seq=1)) == {"ok": True, "dup": True}
    assert (await visitor.expect("delivered")) == {"upto": 1}
    assert await anna.nothing("msg")
    gap = await visitor.send(random_ct(), seq=5)
    assert gap["error"] == "bad_seq"
    # And the same both ways: the counsellor's resend reaches the visitor again.
    back = random_ct()
    assert (await anna.send(visitor.chat_id, back, seq=1))["dup"] is False
    assert (await anna.send(visitor.chat_id, back, seq=1))["dup"] is True
    assert [await visitor.expect("msg") for _ in range(2)] == [{"seq": 1, "ct": back}] * 2
    assert await visitor.nothing("msg")


async def test_transfer_moves_chat_to_colleague_with_note(harness: Harness) -> None:
    anna, visitor = await harness.accepted_chat()
    ben = await harness.counsellor("ben", "Ben")
    await visitor.expect("accepted")
    await anna.send(visitor.chat_id, random_ct())
    await visitor.expect("msg")

    note = random_ct(48)
    assert (await anna.transfer(visitor.chat_id, "ben", note))["ok"]
    assigned = await ben.expect("assigned")
    assert assigned["chat"]["chat_id"] == visitor.chat_id
    assert assigned["from"] == "Anna" and assigned["note"] == note
    assert assigned["chat"]["next_seq"] == 2  # the counsellor direction continues
    ben.adopt(assigned["chat"])
    assert (await anna.expect("unassigned")) == {"chat_id": visitor.chat_id}
    assert (await visitor.expect("transferred")) == {"pseudonym": "Ben"}

    # Anna no longer reaches the chat; Ben does, both ways.
    refused = await anna.send(visitor.chat_id, random_ct())
    assert refused["error"] == "forbidden"
    assert (await ben.send(visitor.chat_id, random_ct()))["ok"]
    assert (await visitor.expect("msg"))["seq"] == 2
    await visitor.send(random_ct())
    assert (await ben.expect("msg"))["chat_id"] == visitor.chat_id
    assert await anna.nothing("msg")


async def test_either_side_ends_and_everything_is_forgotten(harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    v1, v2 = await harness.visitor(), await harness.visitor()
    await v1.request()
    await v2.request()
    await anna.accept(v1.chat_id)
    await anna.accept(v2.chat_id)
    await v1.send(random_ct())
    await anna.expect("msg")

    assert (await anna.end(v1.chat_id))["ok"]
    assert (await v1.expect("ended")) == {"reason": "counsellor"}
    assert (await anna.expect("ended")) == {"chat_id": v1.chat_id, "reason": "counsellor"}
    assert (await v1.send(random_ct()))["error"] == "not_found"

    assert (await v2.end())["ok"]
    assert (await anna.expect("ended")) == {"chat_id": v2.chat_id, "reason": "visitor"}

    stale = harness.visitor
    other = await stale()
    assert (await other.resume(v1.resume_token))["error"] == "not_found"
    sync = await anna.sync()
    assert sync["chats"] == [] and sync["queue"] == []


async def test_visitor_who_vanishes_past_grace_ends_the_chat(harness: Harness) -> None:
    anna, visitor = await harness.accepted_chat()
    await visitor.disconnect()
    assert (await anna.expect("presence")) == {"chat_id": visitor.chat_id, "present": False}
    ended = await anna.expect("ended", timeout=5)
    assert ended == {"chat_id": visitor.chat_id, "reason": "timeout"}


async def test_counsellor_holds_several_chats_up_to_the_limit(
    harness: Harness,
) -> None:
    anna = await harness.counsellor("anna", "Anna")
    visitors = [await harness.visitor() for _ in range(4)]
    for v in visitors:
        await v.request()
    for v in visitors[:3]:
        assert (await anna.accept(v.chat_id))["ok"]
    refused = await anna.accept(visitors[3].chat_id)
    assert refused["error"] == "limit"
    # The messages of concurrent chats stay apart.
    await asyncio.gather(*(v.send(random_ct()) for v in visitors[:3]))
    got = {(await anna.expect("msg"))["chat_id"] for _ in range(3)}
    assert got == {v.chat_id for v in visitors[:3]}
