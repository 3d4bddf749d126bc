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

from tests.support.clients import CounsellorClient, VisitorClient, random_ct
from tests.support.ledger import LedgerChat
from tests.support.nodes import Node, counsellor_token
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


class Chat(LedgerChat):
    """A visitor and a counsellor on one node; after a fault both come back as new clients."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__()
        self.url = url
        self.token = token
        self.visitor = VisitorClient(url)
        self.counsellor = CounsellorClient(url, token)
        self.resume = ""

    async def open(self) -> None:
        await self.counsellor.connect()
        assert (await self.counsellor.duty(True))["ok"]
        await self.visitor.connect()
        assert (await self.visitor.request())["ok"]
        self.chat_id, self.resume = self.visitor.chat_id, self.visitor.resume_token
        assert (await self.counsellor.accept(self.chat_id))["ok"]
        await self.visitor.expect("accepted")

    async def acknowledged(self, client: VisitorClient | CounsellorClient, event: str,
                           payload: dict[str, Any]) -> dict[str, Any]:
        """Errors of an outage are retried: ``unavailable``, ``internal``, or no answer (the
        server is away). Any other refusal fails the test at once."""

        async def attempt() -> dict[str, Any]:
            answer: dict[str, Any] = await client.call(event, payload)
            assert answer.get("ok") or answer.get("error") in ("internal", "unavailable"), answer
            return answer

        return await eventually(attempt, until=lambda answer: answer.get("ok"),
                                what=f"seq {payload['seq']} to be acknowledged",
                                timeout=RETRY_FOR_S, interval=0.2,
                                ignoring=(socketio.exceptions.TimeoutError,))

    async def ack(self, visitor_upto: int, counsellor_upto: int) -> None:
        await super().ack(visitor_upto, counsellor_upto)
        assert (await self.counsellor.expect("delivered"))["upto"] == visitor_upto
        assert (await self.visitor.expect("delivered"))["upto"] == counsellor_upto

    async def reconnect(self) -> tuple[int, int]:
        """Both ends come back after the fault, the way the widget and console do. Returns the
        next sequence number the server expects from the visitor and from the counsellor."""
        self.mark()
        for client in (self.visitor, self.counsellor):
            await client.disconnect()

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
        self.counsellor = CounsellorClient(self.url, self.token)
        await self.counsellor.connect()
        sync = await self.counsellor.sync()
        assert [c["chat_id"] for c in sync["chats"]] == [self.chat_id], sync
        return answer["next_seq"], sync["chats"][0]["next_seq"]

    async def close(self) -> None:
        await self.visitor.disconnect()
        await self.counsellor.disconnect()


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
    chat = Chat(node.url, await counsellor_token(node, redis_server.url, "anna"))
    try:
        await chat.open()
        await chat.exchange(1, 2, 3)
        await chat.settle()
        await chat.ack(visitor_upto=1, counsellor_upto=2)
        # Seq 4 in flight both ways as the server goes down: sent, never acknowledged.
        chat.v.sent[4], chat.c.sent[4] = random_ct(64), random_ct(64)
        await chat.visitor.sio.emit("send", {"seq": 4, "ct": chat.v.sent[4]},
                                    namespace="/visitor")
        await chat.counsellor.sio.emit("send", {"chat_id": chat.chat_id, "seq": 4,
                                                "ct": chat.c.sent[4]}, namespace="/counsellor")
        # In a thread: the clients' event loop must keep running while the server stops.
        await asyncio.to_thread(node.stop, sig)
        await asyncio.to_thread(node.start)
        visitor_next, counsellor_next = await chat.reconnect()
        # Seq 4 was kept before the crash or never arrived; the next seq expected says which.
        assert visitor_next in (4, 5) and counsellor_next in (4, 5), \
            (visitor_next, counsellor_next)
        # The senders never heard back about seq 4: they resend the very same envelope. The
        # server calls it a duplicate exactly when it had kept it.
        assert (await chat.visitor_says(4))["dup"] is (visitor_next == 5)
        assert (await chat.counsellor_says(4))["dup"] is (counsellor_next == 5)
        await chat.exchange(5, 6)
        await chat.settle()
        chat.check()
        # Since the restart, seq 4 reached each receiver: if it had been kept, replayed by
        # resume or sync and relayed once more when resent (a dup still unacknowledged is
        # relayed again: the relay cannot tell a lost publish from a repeat); if not, only
        # relayed when resent.
        assert chat.c.since_mark().count(4) == (2 if visitor_next == 5 else 1), \
            chat.c.deliveries
        assert chat.v.since_mark().count(4) == (2 if counsellor_next == 5 else 1), \
            chat.v.deliveries
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
    chat = Chat(node.url, await counsellor_token(node, store.url, "anna"))
    try:
        await chat.open()
        await chat.exchange(1, 2, 3)
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
        # Everything up to seq 4 was acknowledged before the reconnect, both ways.
        assert await chat.reconnect() == (5, 5)
        await chat.exchange(5, 6)
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
