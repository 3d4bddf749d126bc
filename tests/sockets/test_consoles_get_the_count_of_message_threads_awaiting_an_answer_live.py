"""The console's count of anonymous message threads awaiting an answer (issue 17): every
console gets it when it connects and again, pushed, whenever a message or an answer changes
it, on both state backends; nothing but the number travels. Over the same sockets a thread
takes two rounds: the visitor writes again only after the signed answer, under the same code,
and reads both answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp.test_utils import TestServer

from chatserver import crypto
from chatserver.config import Config
from chatserver.main import create_app
from tests.support.clients import CounsellorClient
from tests.support.drops import leave_drop, signed_answer, write_drop
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness
from tests.support.records import certify, share_records_key


@pytest.fixture
def pki() -> Pki:
    return Pki()


@pytest.fixture
async def h(backend: str, make_config: Callable[..., Config], pki: Pki
            ) -> AsyncIterator[Harness]:
    server = TestServer(create_app(make_config(
        redis_url=backend, org_public_key=crypto.b64encode(pki.org_public_key))))
    await server.start_server()
    harness = Harness(server.app, str(server.make_url("/")))
    yield harness
    await harness.close()
    await server.close()


async def count(console: CounsellorClient) -> int:
    pushed = await console.expect("drops_waiting")
    assert set(pushed) == {"count"}, pushed  # a number, nothing of any message
    return int(pushed["count"])


async def test_the_count_is_pushed_to_every_console_as_threads_wait_and_are_answered(
        h: Harness, pki: Pki) -> None:
    anna = await h.counsellor("anna", "Anna", on_duty=False)
    anna_id = await certify(h, "anna", pki.identity("Anna"))
    await share_records_key(anna, identities=[anna_id])
    ben = await h.counsellor("ben", "Ben", on_duty=False)  # no grant: sees the count all the same
    assert [await count(anna), await count(ben)] == [0, 0]

    visitor = await h.visitor()
    left = await leave_drop(visitor)
    assert [await count(anna), await count(ben)] == [1, 1]
    await leave_drop(visitor)
    assert [await count(anna), await count(ben)] == [2, 2]

    thread_id = (await anna.call("drops", {}))["items"][0]["drop_id"]
    drop = (await anna.call("drop_open", {"drop_id": thread_id}))["drop"]
    first = signed_answer(anna_id, drop, "Erste Antwort")
    assert (await anna.call("drop_answer", {"drop_id": drop["drop_id"], "answer": first}))["ok"]
    assert [await count(anna), await count(ben)] == [1, 1]

    # A refused message changes nothing and pushes nothing.
    assert (await write_drop(visitor, left.code, 3))["error"] == "conflict"
    assert await anna.nothing("drops_waiting")
    # The visitor writes again under the same code: the thread waits once more.
    assert (await write_drop(visitor, left.code, 2)) == {"ok": True}
    assert [await count(anna), await count(ben)] == [2, 2]
    # A console connecting now is told at once.
    late = await h.counsellor("cleo", "Cleo", on_duty=False)
    assert await count(late) == 2

    drop = (await anna.call("drop_open", {"drop_id": thread_id}))["drop"]
    assert drop["round"] == 2 and [r["round"] for r in drop["rounds"]] == [1, 2]
    assert drop["rounds"][0]["answer"] == first
    second = signed_answer(anna_id, drop, "Zweite Antwort")
    assert (await ben.call("drop_answer", {"drop_id": drop["drop_id"], "answer": second})
            )["error"] == "no_grant"
    assert await ben.nothing("drops_waiting")
    assert (await anna.call("drop_answer", {"drop_id": drop["drop_id"], "answer": second}))["ok"]
    assert [await count(anna), await count(ben), await count(late)] == [1, 1, 1]

    # The visitor, back with the code, finds both answers signed for this thread, in order.
    seen = await (await h.visitor()).call("drop_check", {"lookup": left.lookup})
    texts = []
    for n, item in enumerate(seen["rounds"], start=1):
        certified = crypto.verify_drop_answer(item["answer"], left.keys.lookup,
                                              pki.org_public_key, pki.now)
        assert certified.pseudonym == "Anna"
        opened = crypto.decode_payload(crypto.open_sealed(
            left.keys.reply_sk, left.keys.reply_pk, crypto.b64decode(item["answer"]["sealed"])))
        assert opened["round"] == n
        texts.append(opened["body"])
    assert texts == ["Erste Antwort", "Zweite Antwort"]
