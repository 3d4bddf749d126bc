"""A refused send spends no sequence number: after ``rate_limited``, an envelope too large or
not base64, or a gap, the sender sends the same ``seq`` again and it is accepted. A resend of
an accepted ``seq`` is ``dup``. The receiver gets each accepted envelope, in order, and only
those, whatever mix of refusals came in between (both directions, both state backends)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

from chatserver.config import Config
from chatserver.main import create_app
from tests.support.clients import random_ct
from tests.support.fuzzing import FAULTS
from tests.support.harness import Harness
from tests.support.waiting import eventually

MAX_BYTES = 2048
# Tight enough that a burst of sends is refused, loose enough that a retry soon succeeds.
LIMITS = {"msg_rate_per_s": 8.0, "msg_burst": 3, "max_envelope_bytes": MAX_BYTES}

pytestmark = pytest.mark.hardening


@pytest.fixture
async def limited(backend: str, make_config: Callable[..., Config]) -> AsyncIterator[Harness]:
    server = TestServer(create_app(make_config(redis_url=backend, **LIMITS)))
    await server.start_server()
    harness = Harness(server.app, str(server.make_url("/")))
    yield harness
    await harness.close()
    await server.close()


@dataclass
class Side:
    """One sender: what it got accepted, and what its receiver was handed."""

    name: str
    send: Callable[[int, str], Any]
    accepted: list[str] = field(default_factory=list)
    received: dict[int, str] = field(default_factory=dict)

    @property
    def next_seq(self) -> int:
        return len(self.accepted) + 1

    async def until_accepted(self, seq: int, ct: str) -> dict[str, Any]:
        """Send ``seq`` until it is not ``rate_limited``; the first other answer counts."""
        answers: list[dict[str, Any]] = []

        async def attempt() -> bool:
            answers.append(await self.send(seq, ct))
            return answers[-1].get("error") != "rate_limited"

        await eventually(attempt, what=f"{self.name} seq {seq} past the rate limit",
                         interval=0.1)
        return answers[-1]


def take(side: Side, messages: list[dict[str, Any]]) -> None:
    for msg in messages:
        ct = side.received.setdefault(msg["seq"], msg["ct"])
        assert ct == msg["ct"], f"{side.name}: seq {msg['seq']} came with other content"


ACTIONS = ["ok", "ok", "too_large", "not_base64", "gap", "again", "burst"]


@FAULTS
@given(script=st.lists(st.tuples(st.sampled_from(["visitor", "counsellor"]),
                                 st.sampled_from(ACTIONS)), min_size=1, max_size=10))
async def test_refusals_spend_no_seq_and_the_receiver_gets_each_accepted_envelope_once(
    limited: Harness, script: list[tuple[str, str]]
) -> None:
    anna = await limited.counsellor("anna", "Anna")
    visitor = await limited.visitor()
    try:
        assert (await visitor.request())["ok"]
        chat_id = visitor.chat_id
        accepted = await anna.accept(chat_id)
        assert accepted.get("ok"), accepted

        async def v_send(seq: int, ct: str) -> Any:
            return await visitor.call("send", {"seq": seq, "ct": ct})

        async def c_send(seq: int, ct: str) -> Any:
            return await anna.call("send", {"chat_id": chat_id, "seq": seq, "ct": ct})

        sides = {"visitor": Side("visitor", v_send), "counsellor": Side("counsellor", c_send)}
        for who, action in script:
            side = sides[who]
            seq = side.next_seq
            if action == "ok":
                ct = random_ct(32)
                assert await side.until_accepted(seq, ct) == {"ok": True, "dup": False}
                side.accepted.append(ct)
            elif action == "too_large":
                big = base64.b64encode(bytes(MAX_BYTES + 1)).decode()
                assert (await side.until_accepted(seq, big))["error"] == "invalid"
            elif action == "not_base64":
                assert (await side.until_accepted(seq, "!!!!"))["error"] == "invalid"
            elif action == "gap":
                assert (await side.until_accepted(seq + 1, random_ct(8)))["error"] == "bad_seq"
            elif action == "again" and side.accepted:
                answer = await side.until_accepted(seq - 1, random_ct(8))
                assert answer == {"ok": True, "dup": True}
            elif action == "burst":
                # Several copies at once: some are refused, exactly one is accepted as new.
                ct = random_ct(16)
                answers = await asyncio.gather(*(side.send(seq, ct) for _ in range(6)))
                fresh = [a for a in answers if a.get("ok") and not a["dup"]]
                assert all(a.get("ok") or a["error"] == "rate_limited" for a in answers)
                assert len(fresh) <= 1
                if not fresh:
                    assert (await side.until_accepted(seq, ct))["ok"]
                side.accepted.append(ct)
        # Whatever was refused, the next seq continues right after the last accepted one.
        for side in sides.values():
            ct = random_ct(24)
            assert await side.until_accepted(side.next_seq, ct) == {"ok": True, "dup": False}
            side.accepted.append(ct)

        def settled() -> bool:
            take(sides["visitor"], anna.drain("msg"))
            take(sides["counsellor"], visitor.drain("msg"))
            return all(len(s.received) >= len(s.accepted) for s in sides.values())

        await eventually(settled, what="every accepted envelope at the other end")
        for side in sides.values():
            assert side.received == dict(enumerate(side.accepted, start=1)), side.name
    finally:
        # One chat per example: ending it keeps Anna below her chat limit for the next.
        await eventually(lambda: visitor.end(), until=lambda a: a.get("ok"),
                         what="the chat to end")
        await visitor.disconnect()
        await anna.disconnect()


async def test_after_a_refusal_the_same_seq_is_accepted(limited: Harness) -> None:
    """The plain case the widget hit: a refusal, then every later send refused ``bad_seq``."""
    anna = await limited.counsellor("anna", "Anna")
    visitor = await limited.visitor()
    assert (await visitor.request())["ok"]
    assert (await anna.accept(visitor.chat_id))["ok"]
    answers = await asyncio.gather(*(visitor.call("send", {"seq": 1, "ct": random_ct(8)})
                                     for _ in range(8)))
    assert any(a.get("error") == "rate_limited" for a in answers)
    side = Side("visitor", lambda seq, ct: visitor.call("send", {"seq": seq, "ct": ct}))
    assert (await side.until_accepted(2, random_ct(8))) == {"ok": True, "dup": False}
    assert (await side.until_accepted(3, random_ct(8))) == {"ok": True, "dup": False}
