"""Restarts in the middle of a chat: the chat server process (gracefully and killed), Redis
(with append-only persistence), and the in-memory default (which forgets, by design).

After the fault both ends reconnect and resume. Every envelope the server acknowledged
reaches the other end; an envelope the receiver had acknowledged is never sent again; an
unacknowledged one may be replayed and the receiver keeps each sequence number once; and a
resend of an envelope whose acknowledgement was lost in the crash is answered ``dup``.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import socketio

from chatserver.relay.state import Identity
from chatserver.relay.state.redis import RedisState
from chatserver.relay.tokens import issue_token
from tests.support.clients import CounsellorClient, VisitorClient, random_ct
from tests.support.nodes import Node
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.hardening

RETRY_FOR_S = 20.0


class PersistentRedis(RedisServer):
    """A throwaway Redis that writes every change to its append-only file before answering."""

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe is not None
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.wait_until_up()


class End:
    """One side of the chat as its application sees it: deduplicates by sequence number."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.received: dict[int, str] = {}
        self.deliveries: list[int] = []  # every msg the server pushed, duplicates included
        self.sent: dict[int, str] = {}  # acknowledged by the server
        self.acked_upto = 0
        self.mark = 0  # deliveries before the last reconnect

    def take(self, messages: list[dict[str, Any]]) -> None:
        for msg in messages:
            self.deliveries.append(msg["seq"])
            if msg["seq"] in self.received:
                assert self.received[msg["seq"]] == msg["ct"], "same seq, other content"
            self.received[msg["seq"]] = msg["ct"]


async def send_until_acknowledged(call: Any, seq: int, ct: str) -> dict[str, Any]:
    """Send ``seq`` until the server acknowledges it; errors during an outage are retried."""

    async def attempt() -> dict[str, Any]:
        answer: dict[str, Any] = await call(ct, seq)
        assert answer.get("ok") or answer.get("error") in ("internal", "unavailable"), answer
        return answer

    # A timeout is the server being away; it is retried like an "unavailable".
    return await eventually(attempt, until=lambda answer: answer.get("ok"),
                            what=f"seq {seq} to be acknowledged", timeout=RETRY_FOR_S,
                            interval=0.2, ignoring=(socketio.exceptions.TimeoutError,))


class Chat:
    """A visitor and a counsellor on one node, with the bookkeeping of both ends."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.visitor = VisitorClient(url)
        self.counsellor = CounsellorClient(url, token)
        self.v, self.c = End("visitor"), End("counsellor")
        self.chat_id = ""
        self.resume = ""

    async def open(self) -> None:
        await self.counsellor.connect()
        assert (await self.counsellor.duty(True))["ok"]
        await self.visitor.connect()
        assert (await self.visitor.request())["ok"]
        self.chat_id, self.resume = self.visitor.chat_id, self.visitor.resume_token
        assert (await self.counsellor.accept(self.chat_id))["ok"]
        await self.visitor.expect("accepted")

    async def visitor_says(self, seq: int) -> dict[str, Any]:
        ct = random_ct(64)
        answer = await send_until_acknowledged(
            lambda text, s: self.visitor.call("send", {"seq": s, "ct": text}), seq, ct)
        self.v.sent[seq] = ct
        return answer

    async def counsellor_says(self, seq: int) -> dict[str, Any]:
        ct = random_ct(64)
        answer = await send_until_acknowledged(
            lambda text, s: self.counsellor.call("send", {"chat_id": self.chat_id, "seq": s,
                                                          "ct": text}), seq, ct)
        self.c.sent[seq] = ct
        return answer

    async def settle(self) -> None:
        """Wait until each end has everything the other end got acknowledged."""
        await eventually(lambda: self._pumped() and set(self.v.sent) <= set(self.c.received)
                         and set(self.c.sent) <= set(self.v.received), what="delivery")

    def _pumped(self) -> bool:
        self.v.take(self.visitor.drain("msg"))
        self.c.take(self.counsellor.drain("msg"))
        return True

    async def ack(self, visitor_upto: int, counsellor_upto: int) -> None:
        assert (await self.visitor.call("ack", {"upto": visitor_upto}))["ok"]
        assert (await self.counsellor.call("ack", {"chat_id": self.chat_id,
                                                   "upto": counsellor_upto}))["ok"]
        self.v.acked_upto, self.c.acked_upto = visitor_upto, counsellor_upto
        assert (await self.counsellor.expect("delivered"))["upto"] == visitor_upto
        assert (await self.visitor.expect("delivered"))["upto"] == counsellor_upto

    async def reconnect(self) -> None:
        """Both ends come back after the fault, the way the widget and console do."""
        self._pumped()
        self.v.mark, self.c.mark = len(self.v.deliveries), len(self.c.deliveries)
        for client in (self.visitor, self.counsellor):
            await client.disconnect()
        self.counsellor = CounsellorClient(self.url, self.token)

        async def come_back() -> dict[str, Any] | None:
            self.visitor = VisitorClient(self.url)
            try:
                await self.visitor.connect()
                return await self.visitor.resume(self.resume)
            except (socketio.exceptions.ConnectionError, socketio.exceptions.TimeoutError):
                await self.visitor.disconnect()
                return None

        answer = await eventually(come_back, what="the visitor to come back",
                                  timeout=RETRY_FOR_S, interval=0.2)
        assert answer["ok"] and answer["status"] == "active", answer
        assert answer["next_seq"] == max(self.v.sent, default=0) + 1 or \
            answer["next_seq"] == max(self.v.sent, default=0) + 2, answer
        await self.counsellor.connect()
        sync = await self.counsellor.sync()
        assert [c["chat_id"] for c in sync["chats"]] == [self.chat_id], sync

    async def close(self) -> None:
        await self.visitor.disconnect()
        await self.counsellor.disconnect()

    def check(self) -> None:
        """Nothing acknowledged was lost; nothing the receiver had acknowledged came again
        after the reconnect; each end holds every sequence number once, without gaps."""
        self._pumped()
        assert self.c.received == self.v.sent, "counsellor lost or garbled a visitor envelope"
        assert self.v.received == self.c.sent, "visitor lost or garbled a counsellor envelope"
        for end in (self.v, self.c):
            again = end.deliveries[end.mark:]
            assert all(s > end.acked_upto for s in again), (end.name, end.deliveries)
            assert sorted(end.received) == list(range(1, len(end.received) + 1)), end.name


async def token_for(url: str, name: str) -> str:
    state = RedisState(url)
    try:
        return await issue_token(state, Identity(name, name.title(), "counsellor"), 600)
    finally:
        await state.close()


@pytest.fixture
def node_env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    redis_server.flush()
    return {
        "CHATSERVER_REDIS_URL": redis_server.url,
        "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CHATSERVER_KDF_COST": "min",
    }


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "killed"])
async def test_server_restart_mid_chat_on_redis(
    node_env: dict[str, str], redis_server: RedisServer, tmp_path: Path, sig: int
) -> None:
    node = Node(node_env, tmp_path / "node.log")
    node.start()
    chat = Chat(node.url, await token_for(redis_server.url, "anna"))
    try:
        await chat.open()
        for seq in (1, 2, 3):
            await chat.visitor_says(seq)
            await chat.counsellor_says(seq)
        await chat.settle()
        await chat.ack(visitor_upto=1, counsellor_upto=2)
        # Seq 4 in flight both ways as the server goes down: sent, never acknowledged.
        await chat.visitor.sio.emit("send", {"seq": 4, "ct": (v4 := random_ct(64))},
                                    namespace="/visitor")
        await chat.counsellor.sio.emit("send", {"chat_id": chat.chat_id, "seq": 4,
                                                "ct": (c4 := random_ct(64))},
                                       namespace="/counsellor")
        # In a thread: the clients' event loop must keep running while the server stops.
        await asyncio.to_thread(node.stop, sig)
        await asyncio.to_thread(node.start)
        await chat.reconnect()
        # The senders never heard back about seq 4: they resend the very same envelope.
        again_v = await send_until_acknowledged(
            lambda ct, s: chat.visitor.call("send", {"seq": s, "ct": ct}), 4, v4)
        again_c = await send_until_acknowledged(
            lambda ct, s: chat.counsellor.call("send", {"chat_id": chat.chat_id, "seq": s,
                                                        "ct": ct}), 4, c4)
        chat.v.sent[4], chat.c.sent[4] = v4, c4
        assert {again_v["dup"], again_c["dup"]} <= {True, False}
        for seq in (5, 6):
            await chat.visitor_says(seq)
            await chat.counsellor_says(seq)
        await chat.settle()
        chat.check()
    finally:
        await chat.close()
        node.stop()
    assert b"Traceback" not in node.output()


async def test_redis_restart_mid_chat_with_append_only_persistence(tmp_path: Path) -> None:
    store = PersistentRedis()
    store.start()
    node = Node({
        "CHATSERVER_REDIS_URL": store.url,
        "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CHATSERVER_KDF_COST": "min",
    }, tmp_path / "node.log")
    node.start()
    chat = Chat(node.url, await token_for(store.url, "anna"))
    try:
        await chat.open()
        for seq in (1, 2, 3):
            await chat.visitor_says(seq)
            await chat.counsellor_says(seq)
        await chat.settle()
        await chat.ack(visitor_upto=2, counsellor_upto=1)
        store.stop()
        # While Redis is away, sends fail cleanly and are retried until it is back.
        async def restart() -> None:
            await asyncio.sleep(1.5)  # Redis stays away a while on purpose: the outage
            await asyncio.to_thread(store.start)

        back = asyncio.create_task(restart())
        await chat.visitor_says(4)
        await chat.counsellor_says(4)
        await back
        await chat.reconnect()
        for seq in (5, 6):
            await chat.visitor_says(seq)
            await chat.counsellor_says(seq)
        await chat.settle()
        chat.check()
    finally:
        await chat.close()
        node.stop()
        store.cleanup()
    assert b"Traceback" not in node.output()


async def test_in_memory_restart_forgets_every_chat_and_says_so(tmp_path: Path) -> None:
    """The embedded default keeps chats only in memory: after a restart resume is refused."""
    node = Node({"CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                 "CHATSERVER_KDF_COST": "min"}, tmp_path / "node.log")
    node.start()
    visitor = VisitorClient(node.url)
    try:
        await visitor.connect()
        assert (await visitor.request())["ok"]
        token = visitor.resume_token
        await asyncio.to_thread(node.stop)
        await asyncio.to_thread(node.start)
        await visitor.disconnect()
        visitor = VisitorClient(node.url)
        await visitor.connect()
        answer = await visitor.call("resume", {"token": token})
        assert answer["error"] == "not_found" and set(answer) == {"error", "message"}
    finally:
        await visitor.disconnect()
        node.stop()
