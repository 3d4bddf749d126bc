"""Two server processes on one real Redis relay a chat whose ends sit on different nodes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import nacl.secret
import nacl.utils
import pytest

from tests.support.clients import CounsellorClient, VisitorClient
from tests.support.nodes import Node, counsellor_token
from tests.support.redis_server import RedisServer

CANARY = "KANARIENVOGEL-7f3a-ich-will-raus"


@pytest.fixture
def nodes(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    redis_server.flush()
    env = {
        "CHATSERVER_REDIS_URL": redis_server.url,
        "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CHATSERVER_REAPER_INTERVAL_S": "0.2",
    }
    a, b = Node(env, tmp_path / "a.log"), Node(env, tmp_path / "b.log")
    a.start()
    b.start()
    yield a, b
    a.stop()
    b.stop()


def seal(box: nacl.secret.SecretBox, text: str) -> str:
    return base64.b64encode(box.encrypt(text.encode())).decode()


async def test_chat_across_two_nodes_and_nothing_left_behind(
    nodes: tuple[Node, Node], redis_server: RedisServer, tmp_path: Path
) -> None:
    node_a, node_b = nodes
    token = await counsellor_token(node_a, redis_server.url, "anna")

    anna = CounsellorClient(node_a.url, token)
    visitor = VisitorClient(node_b.url)
    await anna.connect()
    await visitor.connect()
    try:
        await anna.duty(True)
        assert (await visitor.request("exit", "de"))["ok"]
        queue = await anna.expect("queue")
        while not queue["items"]:
            queue = await anna.expect("queue")
        assert (await anna.accept(visitor.chat_id))["ok"]
        assert (await visitor.expect("accepted"))["pseudonym"] == "Anna"

        # A stand-in for the E2E layer: the relay only ever gets ciphertext.
        box = nacl.secret.SecretBox(nacl.utils.random(32))
        sent_v = [seal(box, f"{CANARY} visitor {i}") for i in range(3)]
        sent_c = [seal(box, f"{CANARY} counsellor {i}") for i in range(3)]
        for ct in sent_v:
            assert (await visitor.send(ct))["ok"]
        for ct in sent_c:
            assert (await anna.send(visitor.chat_id, ct))["ok"]
        got_c = [(await anna.expect("msg"))["ct"] for _ in sent_v]
        got_v = [(await visitor.expect("msg"))["ct"] for _ in sent_c]
        assert got_c == sent_v and got_v == sent_c

        # While buffered, Redis holds ciphertext and never the plaintext.
        assert CANARY.encode() not in redis_server.dump()

        await anna.ack(visitor.chat_id, 3)
        await visitor.ack(3)
        assert (await visitor.expect("delivered")) == {"upto": 3}
        assert (await anna.end(visitor.chat_id))["ok"]
        assert (await visitor.expect("ended"))["reason"] == "counsellor"
    finally:
        await anna.disconnect()
        await visitor.disconnect()

    # After the end, not even the ciphertext is left anywhere.
    leftovers = redis_server.dump()
    for ct in sent_v + sent_c:
        assert ct.encode() not in leftovers
        assert base64.b64decode(ct) not in leftovers
    assert visitor.chat_id.encode() not in leftovers
    for node in nodes:
        out = node.output()
        assert CANARY.encode() not in out
        assert not any(ct.encode() in out for ct in sent_v + sent_c)
    for path in tmp_path.glob("db.sqlite3*"):
        data = path.read_bytes()
        assert CANARY.encode() not in data
        assert not any(ct.encode() in data for ct in sent_v + sent_c)
