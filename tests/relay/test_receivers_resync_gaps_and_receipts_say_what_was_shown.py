"""Receipts are the guarantee: a receiver that sees a gap asks for a resync, acknowledges only
what it showed (reporting what it could not show as lost), and a sender learns the receipt
again wherever it reconnects. Nothing is marked delivered beyond what was sent."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp.test_utils import TestServer

from chatserver.config import Config
from chatserver.main import create_app
from tests.support.clients import CounsellorClient, VisitorClient, random_ct
from tests.support.harness import Harness
from tests.support.waiting import eventually


async def accepted(harness: Harness) -> tuple[CounsellorClient, VisitorClient]:
    anna = await harness.counsellor("anna", "Anna")
    visitor = await harness.visitor()
    assert (await visitor.request())["ok"]
    assert (await anna.accept(visitor.chat_id))["ok"]
    await visitor.expect("accepted")
    return anna, visitor


async def test_resync_sends_again_every_unacknowledged_envelope_after_a_seq(
    harness: Harness,
) -> None:
    anna, visitor = await accepted(harness)
    sent = [random_ct(40 + i) for i in range(4)]
    for ct in sent:
        assert (await anna.send(visitor.chat_id, ct))["ok"]
    assert [(await visitor.expect("msg"))["seq"] for _ in sent] == [1, 2, 3, 4]
    assert (await visitor.ack(1))["ok"]
    assert (await visitor.call("resync", {"after": 2})) == {"ok": True, "acked": 1}
    assert [await visitor.expect("msg") for _ in range(2)] == [
        {"seq": 3, "ct": sent[2]}, {"seq": 4, "ct": sent[3]}]
    # After 0: only what is still unacknowledged (seq 1 was acknowledged).
    assert (await visitor.call("resync", {"after": 0}))["ok"]
    assert [(await visitor.expect("msg"))["seq"] for _ in range(3)] == [2, 3, 4]
    assert await visitor.nothing("msg")

    for ct in sent[:3]:
        assert (await visitor.send(ct))["ok"]
    assert [(await anna.expect("msg"))["seq"] for _ in range(3)] == [1, 2, 3]
    assert (await anna.call("resync", {"chat_id": visitor.chat_id, "after": 1}))["ok"]
    assert [await anna.expect("msg") for _ in range(2)] == [
        {"chat_id": visitor.chat_id, "seq": s, "ct": sent[s - 1]} for s in (2, 3)]
    assert await anna.nothing("msg")


async def test_nobody_resyncs_a_chat_that_is_not_theirs(harness: Harness) -> None:
    anna, visitor = await accepted(harness)
    ben = await harness.counsellor("ben", "Ben")
    assert (await visitor.send(random_ct()))["ok"]
    await anna.expect("msg")
    answer = await ben.call("resync", {"chat_id": visitor.chat_id, "after": 0})
    assert answer["error"] == "forbidden"
    assert await ben.nothing("msg")
    stranger = await harness.visitor()
    assert (await stranger.call("resync", {"after": 0}))["error"] == "bad_state"
    for bad in ({"after": -1}, {"after": "0"}, {}, {"after": 0, "chat_id": visitor.chat_id}):
        assert (await visitor.call("resync", bad))["error"] == "invalid"


async def test_an_acknowledgement_reports_lost_envelopes_and_stops_at_what_was_sent(
    harness: Harness,
) -> None:
    anna, visitor = await accepted(harness)
    for _ in range(3):
        assert (await visitor.send(random_ct()))["ok"]
    for _ in range(3):
        await anna.expect("msg")
    # Seq 2 did not decrypt: it is acknowledged as received but lost, not as shown.
    assert (await anna.call("ack", {"chat_id": visitor.chat_id, "upto": 3, "lost": [2]}))["ok"]
    assert (await visitor.expect("delivered")) == {"upto": 3, "lost": [2]}
    # A receiver cannot acknowledge what was never sent, nor lower a receipt.
    assert (await visitor.send(random_ct()))["ok"]
    await anna.expect("msg")
    assert (await anna.ack(visitor.chat_id, 1000))["ok"]
    assert (await visitor.expect("delivered")) == {"upto": 4, "lost": [2]}
    assert (await anna.ack(visitor.chat_id, 1))["ok"]
    assert (await visitor.expect("delivered")) == {"upto": 4, "lost": [2]}
    too_many = {"chat_id": visitor.chat_id, "upto": 4, "lost": list(range(1, 34))}
    assert (await anna.call("ack", too_many))["error"] == "invalid"
    assert (await visitor.call("ack", {"upto": 1, "lost": [0]}))["error"] == "invalid"


async def test_resume_and_sync_tell_each_side_its_receipt_and_where_its_inbox_starts(
    harness: Harness,
) -> None:
    anna, visitor = await accepted(harness)
    for _ in range(3):
        assert (await visitor.send(random_ct()))["ok"]
        assert (await anna.send(visitor.chat_id, random_ct()))["ok"]
    for _ in range(3):
        await anna.expect("msg")
        await visitor.expect("msg")
    await visitor.disconnect()
    # The visitor is away when the counsellor acknowledges: the delivered event reaches nobody.
    assert (await anna.call("ack", {"chat_id": visitor.chat_id, "upto": 2, "lost": [1]}))["ok"]

    again = VisitorClient(harness.url)
    harness.track(again)
    await again.connect()
    resumed = await again.resume(visitor.resume_token)
    assert resumed["next_seq"] == 4
    assert resumed["delivered"] == {"upto": 2, "lost": [1]}
    assert resumed["acked"] == 0
    assert [(await again.expect("msg"))["seq"] for _ in range(3)] == [1, 2, 3]
    assert (await again.ack(2))["ok"]

    synced = await anna.sync()
    (chat,) = synced["chats"]
    assert chat["next_seq"] == 4 and chat["delivered"] == {"upto": 2} and chat["acked"] == 2
    assert [(await anna.expect("msg"))["seq"] for _ in range(1)] == [3]


async def test_a_transfer_reports_what_the_first_counsellor_never_showed_as_lost(
    harness: Harness,
) -> None:
    anna, visitor = await accepted(harness)
    ben = await harness.counsellor("ben", "Ben")
    for _ in range(3):
        assert (await visitor.send(random_ct()))["ok"]
    for _ in range(3):
        await anna.expect("msg")
    assert (await anna.ack(visitor.chat_id, 1))["ok"]
    assert (await visitor.expect("delivered")) == {"upto": 1}
    assert (await anna.transfer(visitor.chat_id, "ben"))["ok"]
    # Seqs 2 and 3 were encrypted for Anna and are dropped: the visitor hears they are lost
    # before the new handshake begins, and Ben's inbox starts after them.
    assert (await visitor.expect("delivered")) == {"upto": 3, "lost": [2, 3]}
    assert (await visitor.expect("transferred")) == {"pseudonym": "Ben"}
    assigned = await ben.expect("assigned")
    assert assigned["chat"]["acked"] == 3 and assigned["chat"]["next_seq"] == 1
    assert (await ben.call("resync", {"chat_id": visitor.chat_id, "after": 0}))["ok"]
    assert await ben.nothing("msg")
    assert (await visitor.send(random_ct()))["ok"]
    assert (await ben.expect("msg"))["seq"] == 4


async def test_what_expired_unread_counts_as_lost_so_that_the_receiver_goes_on(
    make_config: Callable[..., Config], backend: str
) -> None:
    """An envelope unacknowledged past ``CHATSERVER_ENVELOPE_TTL_S`` leaves the buffer: the
    receiver's resync moves it past the gap, and the sender hears the envelope was lost."""
    server = TestServer(create_app(make_config(redis_url=backend, envelope_ttl_s=0.5)))
    await server.start_server()
    harness = Harness(server.app, str(server.make_url("/")))
    try:
        anna, visitor = await accepted(harness)
        for _ in range(2):
            assert (await visitor.send(random_ct()))["ok"]
        assert [(await anna.expect("msg"))["seq"] for _ in range(2)] == [1, 2]
        # Anna's console shows nothing and acknowledges nothing while the envelopes expire.
        answer = await eventually(
            lambda: anna.resync(visitor.chat_id, 0), until=lambda a: a.get("acked") == 2,
            what="the expired envelopes to count as lost", timeout=10)
        assert answer == {"ok": True, "acked": 2}
        # The two envelopes may expire a moment apart, so a receipt for the first may come
        # before the one for both; each must say exactly what it covers.
        receipt = await visitor.expect("delivered")
        while receipt["upto"] < 2:
            assert receipt == {"upto": 1, "lost": [1]}, receipt
            receipt = await visitor.expect("delivered")
        assert receipt == {"upto": 2, "lost": [1, 2]}
        # Resyncs before the expiry sent the envelopes again; the last one sent nothing.
        assert {m["seq"] for m in anna.drain("msg")} <= {1, 2}
        assert (await anna.resync(visitor.chat_id, 0)) == {"ok": True, "acked": 2}
        assert await anna.nothing("msg")
        assert (await visitor.send(random_ct()))["ok"]
        assert (await anna.expect("msg"))["seq"] == 3
        # And the next sync starts Anna's inbox after them.
        (chat,) = (await anna.sync())["chats"]
        assert chat["acked"] == 2
    finally:
        await harness.close()
        await server.close()
