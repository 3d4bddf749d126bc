"""One contract, two implementations: the memory and the Redis state behave the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatserver.errors import DomainError
from chatserver.relay.state import Chat, Envelope, Identity, State, secret_key
from chatserver.relay.state.memory import MemoryState
from chatserver.relay.state.redis import RedisState

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
    assert await state.ack_held(cid, "v2c", 1, "anna") == "anna"
    assert await state.ack_held(cid, "c2v", 1, "") == "anna"
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
