"""A client that sends several envelopes without waiting for each answer (a pasted text, a
fast typist, a flushed outbox) gets every one accepted and delivered in order, on both
backends: the server must not reorder one connection's sends while it waits on Redis."""

from __future__ import annotations

import asyncio

from tests.support.clients import random_ct
from tests.support.harness import Harness

BURST = 40


async def test_burst_of_sends_from_both_sides_keeps_its_order(harness: Harness) -> None:
    anna, visitor = await harness.accepted_chat()

    to_counsellor = [random_ct(100 + i) for i in range(BURST)]
    answers = await asyncio.gather(*(visitor.call("send", {"seq": i + 1, "ct": ct})
                                     for i, ct in enumerate(to_counsellor)))
    assert answers == [{"ok": True, "dup": False}] * BURST
    got = [await anna.expect("msg") for _ in range(BURST)]
    assert [(m["seq"], m["ct"]) for m in got] == list(enumerate(to_counsellor, 1))

    to_visitor = [random_ct(100 + i) for i in range(BURST)]
    answers = await asyncio.gather(*(
        anna.call("send", {"chat_id": visitor.chat_id, "seq": i + 1, "ct": ct})
        for i, ct in enumerate(to_visitor)))
    assert answers == [{"ok": True, "dup": False}] * BURST
    back = [await visitor.expect("msg") for _ in range(BURST)]
    assert [(m["seq"], m["ct"]) for m in back] == list(enumerate(to_visitor, 1))
