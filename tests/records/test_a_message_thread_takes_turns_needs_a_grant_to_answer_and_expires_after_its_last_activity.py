"""Anonymous messages as threads (issue 17), in the store on SQLite and PostgreSQL: the visitor
writes, a counsellor with a grant answers, the visitor writes again under the same lookup value
(only after the answer, only as the next round, only with the thread's reply key), the
counsellor sees every round oldest first and answers again, once per round; the count of
threads awaiting an answer follows; the whole thread goes ``drop_ttl`` after its last message
or answer, not after its first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chatserver import crypto
from chatserver.config import Config
from chatserver.errors import DomainError
from chatserver.records.codenames import CodenameHasher
from chatserver.records.db import migrate, open_engine
from chatserver.records.store import RecordStore
from tests.support.clients import random_ct
from tests.support.records import ensure_account, give_grant
from tests.support.schema_check import databases

CHEAP = (1, 8192)
NOW = 1_790_000_000.0
DAY = 86400.0
TTL = 30 * DAY


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, make_config: Callable[..., Config],
                tmp_path: Path) -> AsyncIterator[RecordStore]:
    async with databases(request.param, make_config, tmp_path) as new:
        engine = open_engine(await new())
        await migrate(engine)
        try:
            yield RecordStore(engine, CodenameHasher(b"s" * 16, *CHEAP), 365 * DAY, TTL)
        finally:
            await engine.dispose()


def answer(n: int) -> dict[str, Any]:
    """A stand-in signed answer (the store keeps it as given; signatures are checked above)."""
    return {"sealed": random_ct(200), "sig": crypto.b64encode(bytes(64)),
            "certificate": {"v": 1, "round": n}, "team": random_ct(200)}


async def test_two_rounds_answered_in_turn_and_seen_oldest_first(store: RecordStore) -> None:
    keys = crypto.drop_keys(crypto.generate_drop_code())
    lookup, reply_pk = crypto.b64encode(keys.lookup), crypto.b64encode(keys.reply_pk)
    await give_grant(store.engine, "anna")
    await ensure_account(store.engine, "ben", "Ben", "counsellor")  # no grant

    def write(round_no: int, at: float, pk: str = reply_pk) -> Any:
        return store.create_drop(lookup, random_ct(80), random_ct(300), pk, at, round_no)

    first = await write(1, NOW)
    other = await store.create_drop(crypto.b64encode(crypto.drop_keys(
        crypto.generate_drop_code()).lookup), random_ct(80), random_ct(300), reply_pk, NOW + 1)
    assert await store.waiting_drops() == 2
    # Not again before an answer, never a round skipped, never another reply key.
    for round_no in (1, 2, 3):
        with pytest.raises(DomainError) as err:
            await write(round_no, NOW + 10)
        assert err.value.code == "conflict", round_no
    # Only a counsellor holding a grant answers, and a round only once.
    with pytest.raises(DomainError) as err:
        await store.answer_drop(first, "ben", answer(1), NOW + DAY)
    assert err.value.code == "no_grant"
    await store.answer_drop(first, "anna", answer(1), NOW + DAY)
    with pytest.raises(DomainError) as err:
        await store.answer_drop(first, "anna", answer(1), NOW + DAY)
    assert err.value.code == "conflict"
    assert await store.waiting_drops() == 1
    with pytest.raises(DomainError) as err:
        await write(2, NOW + 2 * DAY, crypto.b64encode(bytes(32)))
    assert err.value.code == "conflict"
    with pytest.raises(DomainError) as err:
        await write(3, NOW + 2 * DAY)
    assert err.value.code == "conflict"

    second = await write(2, NOW + 2 * DAY)
    assert await store.waiting_drops() == 2
    listed = {d["drop_id"]: d for d in await store.list_drops()}
    assert set(listed) == {first, other}, "one item per thread, named by its first round"
    assert listed[first]["rounds"] == 2 and listed[first]["awaiting"]
    assert not listed[first]["answered"]

    thread = await store.open_drop(first)
    assert thread["drop_id"] == second and thread["round"] == 2 and not thread["answered"]
    assert [r["round"] for r in thread["rounds"]] == [1, 2]
    assert [r["drop_id"] for r in thread["rounds"]] == [first, second]
    assert thread["rounds"][0]["answer"] is not None and thread["rounds"][0]["team"]
    assert thread["rounds"][1]["answer"] is None
    assert (await store.open_drop(second))["rounds"] == thread["rounds"]
    with pytest.raises(DomainError) as err:
        await store.answer_drop(second, "ben", answer(2), NOW + 3 * DAY)
    assert err.value.code == "no_grant"
    await store.answer_drop(second, "anna", answer(2), NOW + 3 * DAY)
    assert await store.waiting_drops() == 1

    seen = await store.read_drop(lookup)
    assert seen is not None and seen["answered"]
    assert [(r["round"], r["answered"]) for r in seen["rounds"]] == [(1, True), (2, True)]
    assert seen["rounds"][0]["answer"]["sealed"] != seen["rounds"][1]["answer"]["sealed"]
    assert seen["answer"] == seen["rounds"][1]["answer"]


async def test_the_thread_expires_after_its_last_activity_not_its_first(
        store: RecordStore) -> None:
    keys = crypto.drop_keys(crypto.generate_drop_code())
    lookup, reply_pk = crypto.b64encode(keys.lookup), crypto.b64encode(keys.reply_pk)
    await give_grant(store.engine, "anna")
    first = await store.create_drop(lookup, random_ct(80), random_ct(300), reply_pk, NOW)
    lonely = await store.create_drop(crypto.b64encode(crypto.drop_keys(
        crypto.generate_drop_code()).lookup), random_ct(80), random_ct(300), reply_pk, NOW)
    # Answered on day 20, written again on day 40: the first round is older than the TTL.
    await store.answer_drop(first, "anna", answer(1), NOW + 20 * DAY)
    assert await store.purge(NOW + 25 * DAY) == 0
    assert (await store.open_drop(first))["expires"] == NOW + 20 * DAY + TTL
    await store.create_drop(lookup, random_ct(80), random_ct(300), reply_pk, NOW + 40 * DAY, 2)
    # Day 45: the untouched thread of day 0 is gone; this one, active on day 40, stays whole.
    assert await store.purge(NOW + 45 * DAY) == 1
    with pytest.raises(DomainError):
        await store.open_drop(lonely)
    assert [r["round"] for r in (await store.open_drop(first))["rounds"]] == [1, 2]
    assert await store.purge(NOW + 40 * DAY + TTL - 60) == 0
    # Past the TTL after the last activity, every round of it goes together.
    assert await store.purge(NOW + 40 * DAY + TTL + 60) == 2
    assert await store.read_drop(lookup) is None
    assert await store.list_drops() == [] and await store.waiting_drops() == 0
