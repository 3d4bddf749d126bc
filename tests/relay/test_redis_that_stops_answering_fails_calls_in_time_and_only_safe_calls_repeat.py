"""Redis trouble never hangs a node and never does a thing twice behind its back.

A Redis that stops answering (a SIGSTOPped throwaway redis-server) makes state calls and
publishes fail within their deadline instead of hanging; the node works again once Redis does.
A reply lost after Redis ran the command (a proxy that drops it and closes the connection):
the append is repeated and answers ``ok`` as it did the first time (not ``dup``, which would
keep the envelope from being relayed), and the envelope is buffered once; a call that is not
safe to repeat (claim, create, end, publish) fails and went to Redis exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
import socketio
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from chatserver.relay.state import Chat, Envelope, Identity, Receipt
from chatserver.relay.state.redis import RedisState
from chatserver.sockets.fanout import RedisFanout
from tests.support.lossy_proxy import LossyProxy
from tests.support.redis_server import RedisServer

DEADLINE_S = 0.5
ANNA = Identity("anna", "Anna", "counsellor")


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own: it will be stopped, which no other test should see."""
    server = RedisServer()
    server.start()
    yield server
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGCONT)
    server.cleanup()


async def _held_chat(state: RedisState, name: str) -> Chat:
    chat = Chat(id=name * 22, entry="exit", lang="de", requested_at=1.0)
    await state.create_chat(chat, "resume-" + name, cap=100)
    await state.claim(chat.id, ANNA, 100, 1.0)
    return chat


async def test_a_silent_redis_fails_calls_within_the_deadline(own_redis: RedisServer) -> None:
    state = RedisState(own_redis.url, timeout_s=DEADLINE_S)
    fanout = RedisFanout(own_redis.url, timeout_s=DEADLINE_S)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=fanout)
    listener = aioredis.from_url(own_redis.url).pubsub()
    await listener.subscribe(fanout.channel)
    assert own_redis.proc is not None
    try:
        chat = await _held_chat(state, "a")
        assert await state.append_held(chat.id, "v2c", Envelope(1, "AAAA"), 1.0, 60, "") == (
            "ok", "anna")
        await sio.emit("msg", {"seq": 1}, room="nobody", namespace="/visitor")

        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        # A call sent once waits for one deadline; a repeated one for two, plus a pause.
        for call, attempts in (
            (state.create_chat(Chat(id="b" * 22, entry="exit", lang="de", requested_at=2.0),
                               "resume-b", cap=100), 1),
            (state.append_held(chat.id, "v2c", Envelope(2, "BBBB"), 1.0, 60, ""), 2),
            (state.get_chat(chat.id), 2),
        ):
            started = time.monotonic()
            with pytest.raises(RedisError):
                await call
            waited = time.monotonic() - started
            assert DEADLINE_S * 0.9 <= waited <= attempts * DEADLINE_S + 1.5, waited
        # A publish that gets no answer is given up after its deadline; the emit returns.
        started = time.monotonic()
        await sio.emit("msg", {"seq": 2}, room="nobody", namespace="/visitor")
        assert DEADLINE_S * 0.9 <= time.monotonic() - started <= DEADLINE_S + 1.5

        os.kill(own_redis.proc.pid, signal.SIGCONT)
        # The chat goes on. Redis may have run the append of seq 2 that reached it before it
        # stopped: the client's resend answers "ok" or "dup", and seq 2 is buffered once.
        resent, _ = await state.append_held(chat.id, "v2c", Envelope(2, "BBBB"), 1.0, 60, "")
        assert resent in ("ok", "dup")
        assert await state.append_held(chat.id, "v2c", Envelope(3, "CCCC"), 1.0, 60, "") == (
            "ok", "anna")
        assert [e.seq for e in await state.pending(chat.id, "v2c", 2.0)] == [1, 2, 3]
        await sio.emit("msg", {"seq": 3}, room="nobody", namespace="/visitor")
        assert await _published(listener, '"seq": 3')
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
        await listener.aclose()
        await fanout.close()
        await state.close()


async def _published(listener: PubSub, text: str) -> bool:
    """True once a message containing ``text`` arrives on the channel (within 5 s)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = await listener.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None and text in message["data"].decode():
            return True
    return False


async def test_a_lost_reply_to_an_append_is_repeated_and_answers_ok_once(
    proxy: LossyProxy,
) -> None:
    state = RedisState(proxy.url, timeout_s=DEADLINE_S)
    try:
        chat = await _held_chat(state, "c")
        assert await state.append_held(chat.id, "v2c", Envelope(1, "AAAA"), 1.0, 60, "") == (
            "ok", "anna")
        sha = state._append.sha.encode()
        before = proxy.seen(sha)

        proxy.lose_reply_to(sha)
        assert await state.append_held(chat.id, "v2c", Envelope(2, "BBBB"), 1.0, 60, "") == (
            "ok", "anna")
        assert proxy.seen(sha) == before + 2  # the lost one and its repeat
        assert await state.pending(chat.id, "v2c", 2.0) == [Envelope(1, "AAAA"),
                                                            Envelope(2, "BBBB")]
        # A client's resend of the same envelope is a new call: still a duplicate.
        assert await state.append_held(chat.id, "v2c", Envelope(2, "BBBB"), 1.0, 60, "") == (
            "dup", "anna")
        # The same for the counsellor's direction and the plain append.
        proxy.lose_reply_to(sha)
        assert await state.append_held(chat.id, "c2v", Envelope(1, "DDDD"), 1.0, 60,
                                       "anna") == ("ok", "anna")
        proxy.lose_reply_to(sha)
        assert await state.append(chat.id, "c2v", Envelope(2, "EEEE"), 1.0, 60) == "ok"
        assert await state.pending(chat.id, "c2v", 2.0) == [Envelope(1, "DDDD"),
                                                            Envelope(2, "EEEE")]

        # Appends made together go in one pipeline; a lost reply to it repeats it as a whole.
        chats = [await _held_chat(state, name) for name in "ghijkl"]
        proxy.count_per_write(sha)
        proxy.lose_reply_to(sha)
        before = proxy.seen(sha)
        busy = state.ack_held(chat.id, "c2v", 0, "")  # on its way while the appends are made
        answers = await asyncio.gather(busy, *(
            state.append_held(c.id, "v2c", Envelope(1, c.id[:4]), 1.0, 60, "") for c in chats))
        assert answers == [("anna", Receipt())] + [("ok", "anna")] * len(chats)
        assert proxy.most_per_write(sha) == len(chats)
        assert proxy.seen(sha) == before + 2 * len(chats)
        for c in chats:
            assert await state.pending(c.id, "v2c", 2.0) == [Envelope(1, c.id[:4])]

        # Acknowledging is repeated too: dropping what is acknowledged twice drops it once.
        assert (await state.ack_held(chat.id, "v2c", 0, "anna"))[0] == "anna"  # loads the script
        ack = state._ack_held.sha.encode()
        before = proxy.seen(ack)
        proxy.lose_reply_to(ack)
        # The repeat finds the receipt raised already and answers as the first time would.
        assert await state.ack_held(chat.id, "v2c", 1, "anna") == ("anna", Receipt(1))
        assert proxy.seen(ack) == before + 2
        assert await state.pending(chat.id, "v2c", 2.0) == [Envelope(2, "BBBB")]
    finally:
        await state.close()


async def test_a_lost_reply_to_a_call_sent_once_fails_and_is_not_repeated(
    proxy: LossyProxy, redis_server: RedisServer,
) -> None:
    state = RedisState(proxy.url, timeout_s=DEADLINE_S)
    fanout = RedisFanout(proxy.url, timeout_s=DEADLINE_S)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=fanout)
    direct = aioredis.from_url(redis_server.url, decode_responses=True)
    try:
        # Every script is known to Redis first: a lost reply is then always a lost answer of
        # a script that ran (not of a "no such script" that redis-py would answer by loading it).
        assert await state.end_chat((await _held_chat(state, "x")).id) is not None
        chat = Chat(id="f" * 22, entry="exit", lang="de", requested_at=1.0)

        create = state._create.sha.encode()
        before = proxy.seen(create)
        proxy.lose_reply_to(create)
        with pytest.raises(RedisConnectionError):
            await state.create_chat(chat, "resume-f", cap=100)
        assert proxy.seen(create) == before + 1
        assert await direct.zrank("ek:queue", chat.id) is not None  # Redis did run it

        claim = state._claim.sha.encode()
        before = proxy.seen(claim)
        proxy.lose_reply_to(claim)
        with pytest.raises(RedisConnectionError):
            await state.claim(chat.id, ANNA, 100, 2.0)
        assert proxy.seen(claim) == before + 1
        # Repeated, it would have answered "taken" for the claim that did succeed.
        assert await direct.hget(f"ek:chat:{chat.id}", "counsellor_id") == "anna"

        end = state._end.sha.encode()
        before = proxy.seen(end)
        proxy.lose_reply_to(end)
        with pytest.raises(RedisConnectionError):
            await state.end_chat(chat.id)
        assert proxy.seen(end) == before + 1
        assert await state.get_chat(chat.id) is None

        # A publish whose reply is lost is not sent again: a repeat would deliver it twice.
        proxy.lose_reply_to(b"PUBLISH")
        await sio.emit("msg", {"seq": 1}, room="nobody", namespace="/visitor")
        assert proxy.seen(b"PUBLISH") == 1
        await sio.emit("msg", {"seq": 2}, room="nobody", namespace="/visitor")
        assert proxy.seen(b"PUBLISH") == 2
        # Nor a group of publishes made together.
        proxy.count_per_write(b"together-")
        proxy.lose_reply_to(b"together-")
        await asyncio.gather(*(
            sio.emit("msg", {"n": f"together-{i}"}, room="nobody", namespace="/visitor")
            for i in range(6)))
        assert proxy.most_per_write(b"together-") == 5  # the first went alone
        assert proxy.seen(b"together-") == 6
        assert proxy.seen(b"PUBLISH") == 2 + 6
    finally:
        await direct.aclose()
        await fanout.close()
        await state.close()
