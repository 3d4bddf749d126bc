"""Wait estimates come from recent accepted waits (one average per installation, nothing per
chat once it is accepted), on a clock the test moves, on both backends; before the first
wait they fall back to the configured guess per place and counsellor on duty."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatserver.config import load_config
from chatserver.relay.relay import WAIT_WEIGHT, Relay
from chatserver.relay.state import Identity, State
from chatserver.relay.state.memory import MemoryState
from chatserver.relay.state.redis import RedisState
from tests.support.outbound import RecordingOutbound

ANNA = Identity("anna", "Anna", "counsellor")
BEN = Identity("ben", "Ben", "counsellor")


@pytest.fixture
async def state(backend: str) -> AsyncIterator[State]:
    impl: State = RedisState(backend) if backend else MemoryState()
    yield impl
    await impl.close()


async def test_estimates_follow_the_waits_of_accepted_chats(state: State) -> None:
    now = [5000.0]
    out = RecordingOutbound()
    relay = Relay(load_config({}, wait_estimate_per_position_s=300.0), state, out,
                  clock=lambda: now[0])
    assert await relay.place_info(1) == {"position": 1, "estimate_s": 300, "available": False}
    await relay.set_duty(ANNA, True)
    await relay.set_duty(BEN, True)
    # No wait seen yet: the configured guess, shared by the counsellors on duty.
    assert (await relay.place_info(3))["estimate_s"] == 450
    first, _, _ = await relay.request_chat("exit", "de")
    now[0] += 1  # (on Redis the queue's order is by time; within one instant by id)
    second, _, place = await relay.request_chat("exit", "de")
    assert place == 2

    now[0] += 59  # the first waited a minute at place 1
    await relay.accept(ANNA, first.id)
    assert await state.wait_average() == pytest.approx(60.0)
    assert out.to("chat:" + second.id, "queue")[-1] == {
        "position": 1, "estimate_s": 60, "available": True}
    assert (await relay.place_info(3))["estimate_s"] == 180

    now[0] += 101  # the second waited 160 s from place 2: 80 s per place
    await relay.accept(BEN, second.id)
    expected = 60 + WAIT_WEIGHT * (80 - 60)
    assert await state.wait_average() == pytest.approx(expected)
    _, _, place = await relay.request_chat("relative", "en")
    assert place == 1
    assert (await relay.place_info(2))["estimate_s"] == pytest.approx(2 * expected, abs=1)
