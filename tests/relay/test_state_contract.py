"""One contract, two implementations: the memory and the Redis state behave the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatserver.errors import DomainError
from chatserver.relay.state import (
    MAX_LOST,
    Chat,
    Envelope,
    Identity,
    Receipt,
    State,
    secret_key,
)
from chatserver.relay.state.memory import MemoryState
from chatserver.relay.state.redis import RedisState
from tests.support.waiting import eventually

ANNA = Identity("anna", "Anna", "counsellor")
BEN = Identity("ben", "Ben", "counsellor")


@pytest.fixture
async def state(backend: str) -> AsyncIterator[State]:
    impl: State = RedisState(backend) if backend else MemoryState()
    yield impl
    await impl.close()


def chat(n: int, at: float = 100.0) -> Chat:
    return Chat(id=f"chat{n:016d}", entry="exit", lang="de", requested_at=at + n)


async def test_tokens_expire_and_can_be_revoked(state: State) -> None:
    await state.put_token("k1", ANNA, 60)
    await state.put_token("k2", ANNA, 60)
    await state.put_token("k3", BEN, 0.05)
    assert await state.get_token("k1") == ANNA
    await state.drop_token("k1")
    assert await state.get_token("k1") is None
    await state.drop_tokens_of("anna")
    assert await state.get_token("k2") is None
    await asyncio.sleep(0.1)  # time passes on purpose: k3 lived for 0.05 s
    assert await state.get_token("k3") is None


async def test_a_token_keeps_the_console_session_it_was_issued_from(state: State) -> None:
    bound = Identity("anna", "Anna", "counsellor", session="f" * 64)
    await state.put_token("k1", bound, 60)
    assert await state.get_token("k1") == bound
    await state.drop_tokens_of("anna")
    assert await state.get_token("k1") is None


async def test_queue_keeps_arrival_order_and_cap(state: State) -> None:
    for n in range(3):
        assert await state.create_chat(chat(n), f"r{n}", cap=3) == n + 1
    with pytest.raises(DomainError) as exc:
        await state.create_chat(chat(9), "r9", cap=3)
    assert exc.value.code == "queue_full"
    assert [c.id for c in await state.queued()] == [chat(n).id for n in range(3)]
    assert await state.chat_by_resume("r1") == chat(1).id


async def test_claim_is_exclusive_and_respects_limit(state: State) -> None:
    for n in range(3):
        await state.create_chat(chat(n), f"r{n}", cap=10)
    got = await state.claim(chat(0).id, ANNA, max_chats=2, now=200.0)
    assert got.counsellor_id == "anna" and got.pseudonym == "Anna" and got.accepted_at == 200.0
    with pytest.raises(DomainError) as exc:
        await state.claim(chat(0).id, BEN, max_chats=2, now=201.0)
    assert exc.value.code == "taken"
    await state.claim(chat(1).id, ANNA, max_chats=2, now=202.0)
    with pytest.raises(DomainError) as exc:
        await state.claim(chat(2).id, ANNA, max_chats=2, now=203.0)
    assert exc.value.code == "limit"
    with pytest.raises(DomainError) as exc:
        await state.claim("nochat000000000000", ANNA, max_chats=9, now=203.0)
    assert exc.value.code == "not_found"
    assert sorted(await state.chats_of("anna")) == sorted([chat(0).id, chat(1).id])
    assert [c.id for c in await state.queued()] == [chat(2).id]


async def test_sequence_numbers_dedupe_and_refuse_gaps(state: State) -> None:
    await state.create_chat(chat(0), "r0", cap=10)
    cid = chat(0).id
    assert await state.next_seq(cid, "v2c") == 1
    assert await state.append(cid, "v2c", Envelope(1, "AAAA"), 1.0, 60) == "ok"
    assert await state.append(cid, "v2c", Envelope(1, "AAAA"), 1.0, 60) == "dup"
    with pytest.raises(DomainError) as exc:
        await state.append(cid, "v2c", Envelope(3, "BBBB"), 1.0, 60)
    assert exc.value.code == "bad_seq"
    assert await state.append(cid, "v2c", Envelope(2, "BBBB"), 1.0, 60) == "ok"
    assert await state.next_seq(cid, "v2c") == 3
    assert await state.next_seq(cid, "c2v") == 1


async def test_ack_drops_buffered_envelopes_and_ttl_expires_them(state: State) -> None:
    await state.create_chat(chat(0), "r0", cap=10)
    cid = chat(0).id
    for seq in range(1, 5):
        await state.append(cid, "c2v", Envelope(seq, f"CT{seq}=="), 10.0, 60)
    assert [e.seq for e in await state.pending(cid, "c2v", 11.0)] == [1, 2, 3, 4]
    await state.ack(cid, "c2v", 2)
    assert await state.pending(cid, "c2v", 11.0) == [Envelope(3, "CT3=="), Envelope(4, "CT4==")]
    assert await state.pending(cid, "c2v", 71.0) == []


async def test_held_append_and_ack_check_the_holder_in_the_same_step(state: State) -> None:
    await state.create_chat(chat(0), "r0", cap=10)
    cid = chat(0).id
    for holder in ("", "anna"):
        with pytest.raises(DomainError) as exc:
            await state.append_held(cid, "v2c", Envelope(1, "AAAA"), 1.0, 60, holder)
        assert exc.value.code == "bad_state"  # still queued: nothing is buffered
        with pytest.raises(DomainError) as exc:
            await state.ack_held(cid, "c2v", 1, holder)
        assert exc.value.code == "bad_state"
    assert await state.pending(cid, "v2c", 2.0) == []
    await state.claim(cid, ANNA, 3, 1.0)
    assert await state.append_held(cid, "v2c", Envelope(1, "AAAA"), 1.0, 60, "") == ("ok", "anna")
    assert await state.append_held(cid, "v2c", Envelope(1, "AAAA"), 1.0, 60, "") == ("dup", "anna")
    with pytest.raises(DomainError) as exc:
        await state.append_held(cid, "v2c", Envelope(3, "CCCC"), 1.0, 60, "")
    assert exc.value.code == "bad_seq"
    assert await state.append_held(cid, "c2v", Envelope(1, "BBBB"), 1.0, 60, "anna") == (
        "ok", "anna")
    with pytest.raises(DomainError) as exc:
        await state.append_held(cid, "c2v", Envelope(2, "XXXX"), 1.0, 60, "ben")
    assert exc.value.code == "forbidden"
    with pytest.raises(DomainError) as exc:
        await state.ack_held(cid, "v2c", 1, "ben")
    assert exc.value.code == "forbidden"
    assert await state.pending(cid, "c2v", 2.0) == [Envelope(1, "BBBB")]
    assert await state.ack_held(cid, "v2c", 1, "anna") == ("anna", Receipt(1))
    assert await state.ack_held(cid, "c2v", 1, "") == ("anna", Receipt(1))
    assert await state.pending(cid, "v2c", 2.0) == [] and await state.pending(cid, "c2v", 2.0) == []
    for holder in ("", "anna"):
        with pytest.raises(DomainError) as exc:
            await state.append_held("nochat000000000000", "v2c", Envelope(1, "A"), 1.0, 60,
                                    holder)
        assert exc.value.code == "not_found"
        with pytest.raises(DomainError) as exc:
            await state.ack_held("nochat000000000000", "v2c", 1, holder)
        assert exc.value.code == "not_found"


async def test_reassign_moves_chat_and_drops_old_ciphertext(state: State) -> None:
    await state.create_chat(chat(0), "r0", cap=10)
    cid = chat(0).id
    await state.claim(cid, ANNA, 3, 1.0)
    await state.append(cid, "v2c", Envelope(1, "AAAA"), 1.0, 60)
    with pytest.raises(DomainError) as exc:
        await state.reassign(cid, "ben", ANNA, 3)
    assert exc.value.code == "forbidden"
    moved = await state.reassign(cid, "anna", BEN, 3)
    assert moved.counsellor_id == "ben" and moved.pseudonym == "Ben"
    assert await state.pending(cid, "v2c", 2.0) == []
    # The dropped envelope was never shown: the visitor's receipt reports it lost.
    assert await state.receipt(cid, "v2c") == Receipt(1, (1,))
    assert await state.chats_of("anna") == [] and await state.chats_of("ben") == [cid]


async def test_end_removes_every_trace_once(state: State) -> None:
    await state.create_chat(chat(0), secret_key("resume"), cap=10)
    cid = chat(0).id
    await state.claim(cid, ANNA, 3, 1.0)
    await state.append(cid, "v2c", Envelope(1, "SECRETCT"), 1.0, 60)
    await state.set_visitor_present(cid, False, 5.0)
    ended = await state.end_chat(cid)
    assert ended is not None and ended.id == cid
    assert await state.end_chat(cid) is None
    assert await state.get_chat(cid) is None
    assert await state.chat_by_resume(secret_key("resume")) is None
    assert await state.pending(cid, "v2c", 2.0) == []
    assert await state.chats_of("anna") == []
    assert await state.abandoned(1000.0, 1.0) == []


async def test_presence_and_idle_drive_reaping(state: State) -> None:
    await state.create_chat(chat(0, at=0), "r0", cap=10)
    await state.create_chat(chat(1, at=0), "r1", cap=10)
    await state.set_visitor_present(chat(0).id, False, 10.0)
    assert await state.abandoned(10.5, 1.0) == []
    assert await state.abandoned(12.0, 1.0) == [chat(0).id]
    await state.set_visitor_present(chat(0).id, True, 12.0)
    assert await state.abandoned(20.0, 1.0) == []
    await state.touch(chat(1).id, 50.0)
    assert await state.idle_expired(55.0, 10.0) == [chat(0).id]


async def test_roster_counts_chats_per_counsellor(state: State) -> None:
    await state.set_duty(ANNA, True)
    await state.set_duty(BEN, True)
    await state.create_chat(chat(0), "r0", cap=10)
    await state.claim(chat(0).id, ANNA, 3, 1.0)
    roster = {d.id: (d.pseudonym, d.chats) for d in await state.roster()}
    assert roster == {"anna": ("Anna", 1), "ben": ("Ben", 0)}
    await state.set_duty(BEN, False)
    assert [d.id for d in await state.roster()] == ["anna"]


async def test_stats_counters_add_up_and_are_taken_once(state: State) -> None:
    await state.incr_stats("2026112509", {"d|requested|exit|de": 2, "w|requested|9": 1})
    await state.incr_stats("2026112509", {"d|requested|exit|de": 3})
    await state.incr_stats("2026112510", {"d|requested|exit|de": 1})
    await state.incr_stats("2026112511", {"d|requested|exit|de": 7})
    taken = await state.take_stats("2026112511")
    assert taken == {
        "2026112509": {"d|requested|exit|de": 5, "w|requested|9": 1},
        "2026112510": {"d|requested|exit|de": 1},
    }
    assert await state.take_stats("2026112511") == {}
    assert await state.take_stats("2026112512") == {"2026112511": {"d|requested|exit|de": 7}}


async def test_consent_and_return_links_are_kept_with_the_chat(state: State) -> None:
    import dataclasses

    back = dataclasses.replace(chat(0), record_id="rec1", preferred="anna")
    await state.create_chat(back, "r0", cap=10)
    got = await state.get_chat(back.id)
    assert got is not None and got.record_id == "rec1" and got.preferred == "anna"
    assert got.consent == ""
    await state.set_consent(back.id, "v1")
    assert (await state.get_chat(back.id)).consent == "v1"  # type: ignore[union-attr]
    await state.set_consent(back.id, "")
    assert (await state.get_chat(back.id)).consent == ""  # type: ignore[union-attr]
    await state.end_chat(back.id)
    await state.set_consent(back.id, "v1")
    assert await state.get_chat(back.id) is None


async def test_a_chat_is_linked_to_the_record_filed_from_it_and_an_ended_one_stays_gone(
        state: State) -> None:
    await state.create_chat(chat(0), "r0", cap=10)
    await state.claim(chat(0).id, ANNA, 3, 200.0)
    assert (await state.get_chat(chat(0).id)).record_id == ""  # type: ignore[union-attr]
    await state.link_record(chat(0).id, "rec2")
    got = await state.get_chat(chat(0).id)
    assert got is not None and got.record_id == "rec2" and got.counsellor_id == ANNA.id
    await state.link_record(chat(0).id, "rec2")  # a repeat changes nothing
    assert (await state.get_chat(chat(0).id)).record_id == "rec2"  # type: ignore[union-attr]
    await state.end_chat(chat(0).id)
    await state.link_record(chat(0).id, "rec2")
    assert await state.get_chat(chat(0).id) is None


async def test_chats_remember_their_place_in_the_queue(state: State) -> None:
    for n in range(3):
        assert await state.create_chat(chat(n), f"r{n}", cap=10) == n + 1
    assert [c.place for c in await state.queued()] == [1, 2, 3]
    await state.claim(chat(0).id, ANNA, 3, 200.0)
    await state.create_chat(chat(3), "r3", cap=10)
    assert (await state.get_chat(chat(3).id)).place == 3  # type: ignore[union-attr]


async def test_presence_lapses_only_for_those_on_duty_or_holding_chats(state: State) -> None:
    carl = Identity("carl", "Carl", "counsellor")
    await state.set_duty(ANNA, True)
    await state.set_duty(BEN, True)
    await state.mark_seen(["anna", "ben", "carl"], 10.0)
    assert await state.lapsed(70.0, 60.0) == []
    await state.mark_seen(["ben"], 20.0)
    # A node whose clock lags never moves a presence back.
    await state.mark_seen(["ben"], 15.0)
    assert await state.lapsed(76.0, 60.0) == ["anna"]
    # Carl holds nothing and is not on duty: forgotten, never lapsed.
    assert sorted(await state.lapsed(85.0, 60.0)) == ["anna", "ben"]
    await state.mark_seen(["carl"], 30.0)
    await state.create_chat(chat(0), "r0", cap=10)
    await state.claim(chat(0).id, carl, 3, 31.0)
    # Holding a chat off duty (a race between going off duty and accepting) still lapses.
    assert sorted(await state.lapsed(100.0, 60.0)) == ["anna", "ben", "carl"]
    # On duty without any presence (lost with its node): the grace starts when a pass finds
    # it so, and then runs out like anyone else's.
    await state.set_duty(Identity("dora", "Dora", "counsellor"), True)
    assert "dora" not in await state.lapsed(200.0, 60.0)
    assert "dora" not in await state.lapsed(259.0, 60.0)
    assert "dora" in await state.lapsed(261.0, 60.0)


async def test_release_puts_chats_back_in_front_and_drops_reservations(state: State) -> None:
    import dataclasses

    await state.set_duty(ANNA, True)
    await state.set_duty(BEN, True)
    await state.mark_seen(["anna", "ben"], 100.0)
    for n in range(4):
        await state.create_chat(chat(n), f"r{n}", cap=10)
    back = dataclasses.replace(chat(9), record_id="rec", preferred="anna")
    await state.create_chat(back, "r9", cap=10)
    for n in (1, 0):  # accepted out of order: the older request goes first again
        await state.claim(chat(n).id, ANNA, 3, 150.0 + n)
    await state.claim(chat(2).id, BEN, 3, 160.0)
    await state.append(chat(0).id, "v2c", Envelope(1, "FORANNA"), 151.0, 600)
    await state.append(chat(0).id, "c2v", Envelope(1, "FROMANNA"), 151.0, 600)

    released = await state.release("anna", 200.0, seen_before=None)
    assert released is not None and released.was_on_duty
    assert [c.id for c in released.requeued] == [chat(0).id, chat(1).id]
    assert released.unreserved == [back.id]
    for place, again in enumerate(released.requeued, start=1):
        assert again.queued and again.requeued and again.pseudonym == ""
        assert again.requested_at == 200.0 and again.place == place
        assert again.accepted_at in (150.0, 151.0)
    assert [c.id for c in await state.queued()] == [chat(0).id, chat(1).id, chat(3).id, back.id]
    assert (await state.get_chat(back.id)).preferred == ""  # type: ignore[union-attr]
    assert [d.id for d in await state.roster()] == ["ben"]
    assert await state.chats_of("anna") == [] and await state.chats_of("ben") == [chat(2).id]
    # The ciphertext for Anna is gone; what she sent stays for the visitor to read.
    assert await state.pending(chat(0).id, "v2c", 201.0) == []
    assert await state.pending(chat(0).id, "c2v", 201.0) == [Envelope(1, "FROMANNA")]
    assert await state.next_seq(chat(0).id, "v2c") == 2
    # The visitor's receipt says so: never shown, lost; the next counsellor starts after it.
    assert await state.receipt(chat(0).id, "v2c") == Receipt(1, (1,))
    assert await state.receipt(chat(1).id, "v2c") == Receipt()

    # Ben takes one over: the first acceptance stays, as for a transfer.
    taken = await state.claim(chat(0).id, BEN, 3, 250.0)
    assert taken.accepted_at == 150.0 and not taken.requeued
    # Releasing again changes nothing.
    again = await state.release("anna", 260.0, seen_before=None)
    assert again is not None and not again.was_on_duty
    assert again.requeued == [] and again.unreserved == []


async def test_release_spares_a_counsellor_seen_since(state: State) -> None:
    await state.set_duty(ANNA, True)
    await state.mark_seen(["anna"], 100.0)
    await state.create_chat(chat(0), "r0", cap=10)
    await state.claim(chat(0).id, ANNA, 3, 101.0)
    assert await state.lapsed(170.0, 60.0) == ["anna"]
    await state.mark_seen(["anna"], 111.0)  # she came back between the pass and the release
    assert await state.release("anna", 112.0, seen_before=110.0) is None
    assert [d.id for d in await state.roster()] == ["anna"]
    assert await state.chats_of("anna") == [chat(0).id]
    released = await state.release("anna", 200.0, seen_before=150.0)
    assert released is not None and [c.id for c in released.requeued] == [chat(0).id]
    assert await state.lapsed(360.0, 60.0) == []


async def test_wait_average_moves_by_its_weight(state: State) -> None:
    assert await state.wait_average() is None
    await state.add_wait(100.0, 0.25)
    assert await state.wait_average() == 100.0
    await state.add_wait(20.0, 0.25)
    assert await state.wait_average() == pytest.approx(80.0)
    await state.add_wait(80.0, 1.0)
    assert await state.wait_average() == pytest.approx(80.0)


async def test_receipts_rise_only_within_what_was_sent_and_report_lost_envelopes(
    state: State,
) -> None:
    await state.create_chat(chat(0), "r0", cap=10)
    cid = chat(0).id
    await state.claim(cid, ANNA, 3, 1.0)
    assert await state.receipt(cid, "c2v") == Receipt()
    for seq in range(1, 7):
        await state.append(cid, "c2v", Envelope(seq, f"CT{seq}=="), 1.0, 60)
    # Lost numbers count only inside the newly acknowledged range, sorted and once.
    assert await state.ack(cid, "c2v", 3, (3, 2, 2, 9, 0)) == Receipt(3, (2, 3))
    assert [e.seq for e in await state.pending(cid, "c2v", 2.0)] == [4, 5, 6]
    # A late, lower acknowledgement changes nothing, lost numbers included.
    assert await state.ack(cid, "c2v", 2, (1,)) == Receipt(3, (2, 3))
    assert [e.seq for e in await state.pending(cid, "c2v", 2.0)] == [4, 5, 6]
    # Nobody can acknowledge what was never sent: the receipt stops at the last seq.
    assert await state.ack_held(cid, "c2v", 99, "anna", (5, 8)) == ("anna", Receipt(6, (2, 3, 5)))
    assert await state.pending(cid, "c2v", 2.0) == []
    assert await state.receipt(cid, "c2v") == Receipt(6, (2, 3, 5))
    assert await state.receipt(cid, "v2c") == Receipt()
    assert await state.append(cid, "c2v", Envelope(7, "CT7=="), 1.0, 60) == "ok"
    assert await state.receipt(cid, "c2v") == Receipt(6, (2, 3, 5))
    # An unknown chat has an empty receipt, and acknowledging in it does nothing.
    assert await state.receipt("nochat000000000000", "c2v") == Receipt()
    assert await state.ack("nochat000000000000", "c2v", 3) == Receipt()


async def test_receipts_keep_the_most_recent_lost_numbers(state: State) -> None:
    await state.create_chat(chat(0), "r0", cap=10)
    cid = chat(0).id
    for seq in range(1, 2 * MAX_LOST + 2):
        await state.append(cid, "v2c", Envelope(seq, "AAAA"), 1.0, 60)
    everything = tuple(range(1, 2 * MAX_LOST + 2))
    got = await state.ack(cid, "v2c", 2 * MAX_LOST + 1, everything)
    assert got == Receipt(2 * MAX_LOST + 1, everything[-MAX_LOST:])
    # The largest acknowledgement the schema lets through is capped like any other.
    await state.create_chat(chat(1), "r1", cap=10)
    other = chat(1).id
    await state.append(other, "v2c", Envelope(1, "AAAA"), 1.0, 60)
    assert await state.ack(other, "v2c", 2**53, (2**53,)) == Receipt(1)
    assert await state.receipt(other, "v2c") == Receipt(1)


async def test_codename_is_kept_until_acknowledged_and_never_outlives_the_chat(
    state: State,
) -> None:
    await state.create_chat(chat(0), "r0", cap=10)
    cid = chat(0).id
    assert await state.get_codename(cid) == ""
    await state.set_codename(cid, "erste worte")
    await state.set_codename(cid, "zweite worte")
    # An acknowledgement of an older codename leaves the newer one waiting.
    await state.clear_codename(cid, "erste worte")
    assert await state.get_codename(cid) == "zweite worte"
    await state.clear_codename(cid, "zweite worte")
    assert await state.get_codename(cid) == ""
    await state.set_codename(cid, "dritte worte")
    await state.end_chat(cid)
    assert await state.get_codename(cid) == ""
    assert await state.parked_codename("r0") == ""
    # Setting one on an ended chat does not bring the chat back.
    await state.set_codename(cid, "vierte worte")
    assert await state.get_chat(cid) is None and await state.get_codename(cid) == ""


async def test_a_codename_not_yet_acknowledged_is_parked_for_a_while_after_the_end(
    state: State,
) -> None:
    for n in range(3):
        await state.create_chat(chat(n), f"r{n}", cap=10)
    await state.set_codename(chat(0).id, "erste worte")
    await state.set_codename(chat(1).id, "zweite worte")
    await state.clear_codename(chat(1).id, "zweite worte")
    await state.set_codename(chat(2).id, "dritte worte")
    for n in range(2):
        await state.end_chat(chat(n).id, keep_codename_s=60)
    await state.end_chat(chat(2).id, keep_codename_s=0.2)
    assert await state.parked_codename("r0") == "erste worte"
    assert await state.parked_codename("r1") == ""  # acknowledged before the end
    assert await state.parked_codename("r2") == "dritte worte"
    assert await state.chat_by_resume("r0") is None
    await eventually(lambda: state.parked_codename("r2"), until=lambda c: c == "",
                     what="the parked codename to expire", timeout=5)
    assert await state.parked_codename("r0") == "erste worte"


async def test_an_urgent_request_goes_ahead_of_earlier_ones_but_not_of_those_waiting_again(
    state: State,
) -> None:
    import dataclasses

    def urgent(n: int, at: float = 100.0) -> Chat:
        return dataclasses.replace(chat(n, at), urgent=True)

    await state.set_duty(ANNA, True)
    for n in range(3):
        await state.create_chat(chat(n), f"r{n}", cap=10)
    assert await state.create_chat(urgent(5), "r5", cap=10) == 1
    # Urgent among urgent: first come, first served.
    assert await state.create_chat(urgent(6), "r6", cap=10) == 2
    assert await state.create_chat(chat(7), "r7", cap=10) == 6
    queued = await state.queued()
    assert [c.id for c in queued] == [chat(5).id, chat(6).id, chat(0).id, chat(1).id,
                                      chat(2).id, chat(7).id]
    assert [c.urgent for c in queued] == [True, True, False, False, False, False]
    assert [c.place for c in queued] == [1, 2, 1, 2, 3, 6]

    # A chat whose counsellor went away comes back in front of every request, urgent or not,
    # and a later urgent request queues behind it and the urgent ones before it.
    await state.claim(chat(1).id, ANNA, 3, 150.0)
    released = await state.release("anna", 200.0, seen_before=None)
    assert released is not None and [c.id for c in released.requeued] == [chat(1).id]
    assert await state.create_chat(urgent(8, at=200.0), "r8", cap=10) == 4
    assert [c.id for c in await state.queued()] == [
        chat(1).id, chat(5).id, chat(6).id, chat(8).id, chat(0).id, chat(2).id, chat(7).id]
    assert await state.create_chat(chat(9, at=200.0), "r9", cap=10) == 8
    # The cap counts urgent requests like any other.
    with pytest.raises(DomainError):
        await state.create_chat(urgent(10), "r10", cap=8)
