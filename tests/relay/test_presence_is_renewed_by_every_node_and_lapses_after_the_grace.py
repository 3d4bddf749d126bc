"""Presence on a clock the test moves, on both backends and two relays ("nodes") sharing one
state: whichever node holds a counsellor's console keeps them on duty; once no node has seen
them for the grace, any node's pass takes them off duty, exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatserver.config import load_config
from chatserver.relay.outbound import OffDutyReason
from chatserver.relay.relay import Relay
from chatserver.relay.state import Identity, State
from chatserver.relay.state.memory import MemoryState
from chatserver.relay.state.redis import RedisState
from tests.support.outbound import RecordingOutbound

ANNA = Identity("anna", "Anna", "counsellor")
BEN = Identity("ben", "Ben", "counsellor")
GRACE = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def state(backend: str) -> AsyncIterator[State]:
    impl: State = RedisState(backend) if backend else MemoryState()
    yield impl
    await impl.close()


def node(state: State, clock: Clock) -> tuple[Relay, RecordingOutbound]:
    out = RecordingOutbound()
    return Relay(load_config({}, duty_grace_s=GRACE), state, out, clock=clock), out


async def test_any_node_keeps_a_console_present_and_any_node_ends_a_lapsed_duty(
    state: State,
) -> None:
    clock = Clock()
    one, _ = node(state, clock)
    two, out_two = node(state, clock)
    await one.console_opened(ANNA)
    await two.console_opened(BEN)
    await one.set_duty(ANNA, True)
    await two.set_duty(BEN, True)
    chat, _, _ = await two.request_chat("exit", "de")
    await one.accept(ANNA, chat.id)

    # Node one renews Anna on each pass; node two never sees her, but keeps her on duty.
    for _ in range(5):
        clock.now += GRACE / 2
        await one.lapse_duty()
        assert await two.lapse_duty() == 0
    assert {d.id for d in await state.roster()} == {"anna", "ben"}

    # Node one dies without a word (no disconnect): nobody renews Anna any more.
    clock.now += GRACE - 1
    assert await two.lapse_duty() == 0
    clock.now += 2
    out_two.clear()
    assert await two.lapse_duty() == 1
    assert [d.id for d in await state.roster()] == ["ben"]
    told = out_two.to("chat:" + chat.id, "requeued")
    assert told == [{"position": 1, "estimate_s": told[0]["estimate_s"], "available": True}]
    assert out_two.to("c:anna", "unassigned") == [{"chat_id": chat.id}]
    assert out_two.to("c:anna", "off_duty") == [{"reason": "away"}]
    assert out_two.to("all", "roster")[-1] == {"items": [{"id": "ben", "pseudonym": "Ben",
                                                         "chats": 0}]}
    assert [i["chat_id"] for i in out_two.to("all", "queue")[-1]["items"]] == [chat.id]
    # Once: the next pass, on either node, has nothing left to do.
    assert await two.lapse_duty() == 0
    assert await one.lapse_duty() == 0


async def test_the_grace_counts_from_the_last_console_closing(state: State) -> None:
    clock = Clock()
    relay, _ = node(state, clock)
    await relay.console_opened(ANNA)
    await relay.console_opened(ANNA)
    await relay.set_duty(ANNA, True)
    clock.now += 500
    await relay.console_closed(ANNA)
    clock.now += 500  # one console still open: its node renews her
    assert await relay.lapse_duty() == 0
    clock.now += 10
    await relay.console_closed(ANNA)
    clock.now += GRACE - 1
    assert await relay.lapse_duty() == 0
    clock.now += 2
    assert await relay.lapse_duty() == 1
    assert await relay.on_duty_count() == 0


async def test_a_requeued_chat_counts_once_as_accepted_then_as_a_transfer(
    state: State,
) -> None:
    clock = Clock()
    relay, _ = node(state, clock)
    events: list[object] = []

    async def listen(event: object) -> None:
        events.append(event)

    relay.subscribe(listen)  # type: ignore[arg-type]
    await relay.set_duty(ANNA, True)
    await relay.set_duty(BEN, True)
    chat, _, _ = await relay.request_chat("exit", "de")
    clock.now += 30
    await relay.accept(ANNA, chat.id)
    clock.now += 100
    assert await relay.end_duty("anna", OffDutyReason.SIGNED_OUT)
    clock.now += 20
    await relay.accept(BEN, chat.id)
    clock.now += 50
    await relay.end(chat.id, "counsellor")
    names = [type(e).__name__ for e in events]
    assert names == ["ChatRequested", "ChatAccepted", "ChatTransferred", "ChatEnded"]
    accepted, ended = events[1], events[3]
    assert accepted.wait_s == 30  # type: ignore[attr-defined]
    assert ended.duration_s == 170  # type: ignore[attr-defined]


async def test_a_requeued_chat_ended_while_waiting_counts_as_ended_not_abandoned(
    state: State,
) -> None:
    clock = Clock()
    relay, out = node(state, clock)
    events: list[object] = []

    async def listen(event: object) -> None:
        events.append(event)

    relay.subscribe(listen)  # type: ignore[arg-type]
    await relay.set_duty(ANNA, True)
    chat, _, _ = await relay.request_chat("exit", "de")
    await relay.accept(ANNA, chat.id)
    await relay.end_duty("anna", OffDutyReason.AWAY)
    out.clear()
    clock.now += 40
    assert await relay.end(chat.id, "visitor")
    assert [type(e).__name__ for e in events][-1] == "ChatEnded"
    # Nobody holds it: no counsellor hears of the end, the queue does.
    assert [to for to, name, _ in out.sent if name == "ended"] == ["chat:" + chat.id]
    assert out.to("all", "queue")[-1] == {"items": []}
