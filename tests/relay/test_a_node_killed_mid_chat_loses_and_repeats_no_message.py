"""A node is killed (SIGKILL) in the middle of a chat whose ends sit on two nodes, with messages
in flight both ways: the sockets on it vanish without a word, their sends got no answer, what
it was about to publish never went out. The widget or the console connects to the other node
and resumes or syncs; the outboxes send everything undelivered again. Then the killed node
comes back and the other one is killed, so that both ends have moved. Each time every message
reaches the other application exactly once, in order, and is marked delivered only after it
was shown.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.conversation import (
    NODE_ENV,
    Conversation,
    close_conversation,
    issue_token,
    listening,
    open_conversation,
    warm_up,
)
from tests.support.e2e_clients import Pki
from tests.support.nodes import Node
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.hardening


@pytest.fixture
async def nodes(redis_server: RedisServer, tmp_path: Path
                ) -> AsyncIterator[dict[str, Node]]:
    redis_server.flush()
    env = {"CHATSERVER_REDIS_URL": redis_server.url,
           "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **NODE_ENV}
    both = {"a": Node(env, tmp_path / "a.log"), "b": Node(env, tmp_path / "b.log")}
    for node in both.values():
        await asyncio.to_thread(node.start)
    await warm_up(redis_server.url, *both.values())
    yield both
    for node in both.values():
        await asyncio.to_thread(node.stop)
        assert b"Traceback" not in node.output()


async def kill_in_flight(talk: Conversation, node: Node) -> None:
    """Both sides type; the node dies before any answer can come back."""
    typing = [asyncio.create_task(talk.visitor_says()) for _ in range(2)]
    typing += [asyncio.create_task(talk.counsellor_says()) for _ in range(2)]
    # A turn of the loop: the sends start out (some may reach the node before it dies, some
    # not); none will be answered.
    await asyncio.sleep(0)
    await asyncio.to_thread(node.stop, signal.SIGKILL)
    await asyncio.gather(*typing)


@pytest.mark.parametrize("first", ["visitor", "counsellor"])
async def test_a_killed_node_mid_chat_loses_and_repeats_no_message(
    nodes: dict[str, Node], redis_server: RedisServer, first: str
) -> None:
    # The visitor talks to node a, the counsellor to node b.
    home = {"visitor": "a", "counsellor": "b"}
    talk = await open_conversation(Pki(), nodes["a"].url, nodes["b"].url,
                                   await issue_token(nodes["b"], redis_server.url))
    try:
        for _ in range(2):
            await asyncio.gather(talk.visitor_says(), talk.counsellor_says())
        await talk.settle()

        for side in (first, "counsellor" if first == "visitor" else "visitor"):
            dead = home[side]
            alive = "b" if dead == "a" else "a"
            await kill_in_flight(talk, nodes[dead])
            # Whoever was on the dead node moves to the living one.
            for who, where in list(home.items()):
                if where == dead:
                    home[who] = alive
                    if who == "visitor":
                        await talk.move_visitor(nodes[alive].url)
                    else:
                        await talk.move_counsellor(nodes[alive].url)
            await asyncio.gather(talk.visitor_says(), talk.counsellor_says())
            await talk.settle()
            talk.check()
            # The dead node comes back for the next round.
            await asyncio.to_thread(nodes[dead].start)
            await listening(redis_server.url, *nodes.values())
        assert talk.reconnects == 3  # one end moved, then both
        assert home["visitor"] == home["counsellor"]
    finally:
        await close_conversation(talk)
