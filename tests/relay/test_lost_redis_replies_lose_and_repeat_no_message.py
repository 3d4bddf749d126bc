"""Two nodes reach Redis through a TCP proxy. Mid-chat the proxy swallows every reply, then cuts
every connection: sends went through to Redis and were buffered there, but no node heard so,
and what was published in between reached no node. The nodes answer the senders with an error
or, after redis-py's own repeat, with ``dup``; the senders send the same seq again, the relay
relays what it holds again, the receivers resync their gaps. Every message reaches the other
application exactly once, in order, and is marked delivered only after it was shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.blackout_proxy import BlackoutProxy
from tests.support.conversation import (
    NODE_ENV,
    close_conversation,
    issue_token,
    listening,
    open_conversation,
    warm_up,
)
from tests.support.e2e_clients import Pki
from tests.support.fuzzing import FAULTS
from tests.support.nodes import Node
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.hardening


@pytest.fixture
async def proxied(redis_server: RedisServer, tmp_path: Path
                  ) -> AsyncIterator[tuple[BlackoutProxy, Node, Node]]:
    redis_server.flush()
    proxy = BlackoutProxy(redis_server.port)
    await proxy.start()
    env = {
        "CHATSERVER_REDIS_URL": proxy.url,
        "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **NODE_ENV,
    }
    a, b = Node(env, tmp_path / "a.log"), Node(env, tmp_path / "b.log")
    # In a thread: the proxy lives on this event loop and must keep running meanwhile.
    await asyncio.to_thread(a.start)
    await asyncio.to_thread(b.start)
    await warm_up(redis_server.url, a, b)
    yield proxy, a, b
    await asyncio.to_thread(a.stop)
    await asyncio.to_thread(b.stop)
    await proxy.close()
    for node in (a, b):
        assert b"Traceback" not in node.output()


@FAULTS
@given(visitor_sends=st.integers(0, 3), counsellor_sends=st.integers(0, 3),
       afterwards=st.booleans())
async def test_messages_survive_lost_replies_and_cut_connections_to_redis(
    proxied: tuple[BlackoutProxy, Node, Node], redis_server: RedisServer, visitor_sends: int,
    counsellor_sends: int, afterwards: bool,
) -> None:
    proxy, node_a, node_b = proxied
    await listening(redis_server.url, node_a, node_b)
    talk = await open_conversation(Pki(), node_b.url, node_a.url,
                                   await issue_token(node_a, redis_server.url))
    try:
        await asyncio.gather(talk.visitor_says(), talk.counsellor_says())
        await talk.settle()
        appends = {"v2c": proxy.seen(b"seq_v2c"), "c2v": proxy.seen(b"seq_c2v")}
        proxy.swallow()
        typing = [asyncio.create_task(talk.visitor_says()) for _ in range(visitor_sends)]
        typing += [asyncio.create_task(talk.counsellor_says()) for _ in range(counsellor_sends)]

        def buffered_unheard() -> bool:
            # The sends reached Redis (their appends ran there); no answer came back.
            return (proxy.seen(b"seq_v2c") > appends["v2c"] or not visitor_sends) and \
                (proxy.seen(b"seq_c2v") > appends["c2v"] or not counsellor_sends)

        await eventually(buffered_unheard, what="the appends to reach Redis")
        await proxy.cut()
        await asyncio.gather(*typing)
        if afterwards:
            await asyncio.gather(talk.visitor_says(), talk.counsellor_says())
        await talk.settle()
        talk.check()
        assert talk.reconnects == 0
    finally:
        await close_conversation(talk)
