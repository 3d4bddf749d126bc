"""Two nodes on one Redis, the visitor on one, the counsellor on the other: every envelope and
receipt between them travels as a Redis publish. Redis drops the nodes' pub/sub connections
(``CLIENT KILL TYPE pubsub``) mid-chat and refuses them for a moment; what is published until
they resubscribe is gone. The receivers notice gaps and ask for a resync, the senders send what
stays undelivered again and the relay relays it again (``dup``), with a tight rate limit
refusing sends on the way: every message still reaches the other application exactly once, in
order, and is marked delivered only after it was shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from tests.support.conversation import (
    NODE_ENV,
    Conversation,
    close_conversation,
    fire,
    issue_token,
    listening,
    open_conversation,
    warm_up,
)
from tests.support.e2e_clients import Pki
from tests.support.fuzzing import FAULTS
from tests.support.nodes import Node
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.hardening


@pytest.fixture
async def nodes(redis_server: RedisServer, tmp_path: Path
                ) -> AsyncIterator[tuple[Node, Node]]:
    redis_server.flush()
    env = {
        "CHATSERVER_REDIS_URL": redis_server.url,
        "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **NODE_ENV,
        # Tight enough that a burst of typing is refused now and then.
        "CHATSERVER_MSG_RATE_PER_S": "4",
        "CHATSERVER_MSG_BURST": "3",
    }
    a, b = Node(env, tmp_path / "a.log"), Node(env, tmp_path / "b.log")
    await asyncio.to_thread(a.start)
    await asyncio.to_thread(b.start)
    await warm_up(redis_server.url, a, b)
    yield a, b
    await asyncio.to_thread(a.stop)
    await asyncio.to_thread(b.stop)
    for node in (a, b):
        assert b"Traceback" not in node.output()


class PubSubOutage:
    """Redis drops the nodes' pub/sub connections and refuses them again for a while (as while
    a Redis restarts): what is published meanwhile reaches no node."""

    def __init__(self, server: RedisServer) -> None:
        self.client = redis.Redis(port=server.port)

    def begin(self) -> int:
        self.client.execute_command("ACL", "SETUSER", "default", "-subscribe")
        return int(self.client.client_kill_filter(_type="pubsub"))

    def end(self) -> None:
        self.client.execute_command("ACL", "SETUSER", "default", "+subscribe")

    def close(self) -> None:
        self.end()
        self.client.close()


async def say(talk: Conversation, step: str) -> None:
    if step in ("visitor", "both"):
        await fire(*(talk.visitor_says() for _ in range(2)))
    if step in ("counsellor", "both"):
        await fire(*(talk.counsellor_says() for _ in range(2)))


moves = st.sampled_from(["visitor", "counsellor", "both"])


@FAULTS
@given(before=st.lists(moves, max_size=2), during=st.lists(moves, min_size=1, max_size=3),
       after=st.lists(moves, max_size=2))
async def test_messages_survive_killed_pubsub_connections(
    nodes: tuple[Node, Node], redis_server: RedisServer, before: list[str], during: list[str],
    after: list[str],
) -> None:
    node_a, node_b = nodes
    await listening(redis_server.url, node_a, node_b)
    talk = await open_conversation(Pki(), node_b.url, node_a.url,
                                   await issue_token(node_a, redis_server.url))
    outage = PubSubOutage(redis_server)
    try:
        for step in before:
            await say(talk, step)
        # Both nodes listen on pub/sub: every envelope and receipt sent now is published to
        # nobody, and nothing later reveals the last ones as missing; only resending can.
        assert outage.begin() >= 2
        for step in during:
            await say(talk, step)
        outage.end()
        for step in after:
            await say(talk, step)
        await talk.settle()
        talk.check()
        assert talk.reconnects == 0
    finally:
        outage.close()
        await close_conversation(talk)
