"""Two server processes on one Redis: a counsellor whose console sits on one node stays on
duty for the other node's reaper, and when that node is killed (no disconnect is ever
handled) the other node ends the duty after the grace and tells the visitor on it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clients import CounsellorClient, VisitorClient
from tests.support.nodes import Node, counsellor_token
from tests.support.redis_server import RedisServer

GRACE = 1.0


@pytest.fixture
def nodes(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    redis_server.flush()
    env = {
        "CHATSERVER_REDIS_URL": redis_server.url,
        "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CHATSERVER_REAPER_INTERVAL_S": "0.2",
        "CHATSERVER_DUTY_GRACE_S": str(GRACE),
    }
    a, b = Node(env, tmp_path / "a.log"), Node(env, tmp_path / "b.log")
    a.start()
    b.start()
    yield a, b
    a.stop()
    b.stop()


def available(node: Node) -> bool:
    with urllib.request.urlopen(node.url + "/api/availability", timeout=3) as resp:
        return bool(json.load(resp)["available"])


async def test_the_node_with_the_console_dies_and_the_other_ends_the_duty(
    nodes: tuple[Node, Node], redis_server: RedisServer
) -> None:
    node_a, node_b = nodes
    token = await counsellor_token(node_a, redis_server.url, "anna", "Anna")
    anna = CounsellorClient(node_a.url, token)
    visitor = VisitorClient(node_b.url)
    await anna.connect()
    await visitor.connect()
    try:
        assert (await anna.duty(True))["ok"]
        assert (await visitor.request())["ok"]
        assert (await anna.accept(visitor.chat_id))["ok"]
        await visitor.expect("accepted")

        # Time passing is the point: node B's reaper runs many times past the grace, and
        # node A's renewals keep Anna on duty for it.
        await asyncio.sleep(3 * GRACE)
        assert await visitor.nothing("requeued", within=0.1)
        assert await asyncio.to_thread(available, node_b)

        node_a.stop(signal.SIGKILL)
        told = await visitor.expect("requeued", timeout=GRACE + 10)
        assert told == {"position": 1, "estimate_s": told["estimate_s"], "available": False}
        assert not await asyncio.to_thread(available, node_b)
    finally:
        await visitor.disconnect()
        with contextlib.suppress(Exception):
            await anna.disconnect()
