"""Redis Sentinel: the primary is killed (SIGKILL) in the middle of a chat between a visitor on
one node and a counsellor on another. The sentinels promote the replica; both nodes find it by
themselves (the state's pools, the per-message connections and the pub/sub listener), give it
the Lua scripts it never had, and the chat goes on.

Checked, as docs/architecture.md ("Redis Sentinel: what a failover keeps") promises: every write
the replica had received before the kill is still there (the chat, its buffers, its sequence
numbers, the counsellor's token); an envelope in flight at the kill was kept or not, the next
sequence number says which, and its sender's resend is answered ``dup`` exactly when it was kept;
each end holds every sequence number once, in order, with the content that was sent; nothing a
receiver had acknowledged comes again; and once both nodes listen on the new primary, envelopes
are relayed live again, once each.

Not promised, and so not provoked: a write the old primary acknowledged but had not yet passed
to the replica is lost (replication is asynchronous). The test waits until the replica is in step
before it kills, so that only the envelopes in flight can be caught in that gap, and it accepts
either outcome for them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis
import socketio

from tests.support.clients import CounsellorClient, VisitorClient, random_ct
from tests.support.ledger import LedgerChat
from tests.support.nodes import Node, counsellor_token
from tests.support.sentinel import Sentinels, info
from tests.support.waiting import eventually

pytestmark = pytest.mark.hardening

RETRY_FOR_S = 20.0
# The sentinels notice the dead primary after one second and promote the replica about two
# seconds later; the nodes follow within a second of that. Generous, for a loaded machine.
FAILOVER_WITHIN_S = 15.0


async def until_ok(client: VisitorClient | CounsellorClient, event: str,
                   payload: dict[str, Any]) -> dict[str, Any]:
    """Send ``event`` until the server acknowledges it. While there is no primary the answer is
    ``internal`` (or, rarely, none in time): both are retried. Any other refusal fails at once."""

    async def attempt() -> dict[str, Any]:
        answer: dict[str, Any] = await client.call(event, payload)
        assert answer.get("ok") or answer.get("error") == "internal", answer
        return answer

    return await eventually(attempt, until=lambda answer: answer.get("ok"),
                            what=f"{event} to be acknowledged", timeout=RETRY_FOR_S,
                            interval=0.1, ignoring=(socketio.exceptions.TimeoutError,))


class Chat(LedgerChat):
    """The visitor on one node, the counsellor on the other."""

    def __init__(self, visitor_url: str, counsellor_url: str, token: str) -> None:
        super().__init__()
        self.visitor = VisitorClient(visitor_url)
        self.counsellor = CounsellorClient(counsellor_url, token)

    async def open(self) -> None:
        await self.counsellor.connect()
        assert (await self.counsellor.duty(True))["ok"]
        await self.visitor.connect()
        assert (await self.visitor.request())["ok"]
        self.chat_id = self.visitor.chat_id
        assert (await self.counsellor.accept(self.chat_id))["ok"]
        await self.visitor.expect("accepted")

    async def acknowledged(self, client: VisitorClient | CounsellorClient, event: str,
                           payload: dict[str, Any]) -> dict[str, Any]:
        return await until_ok(client, event, payload)

    async def ack(self, visitor_upto: int, counsellor_upto: int) -> None:
        await super().ack(visitor_upto, counsellor_upto)
        assert (await self.counsellor.expect("delivered"))["upto"] == visitor_upto
        assert (await self.visitor.expect("delivered"))["upto"] == counsellor_upto

    async def close(self) -> None:
        await self.visitor.disconnect()
        await self.counsellor.disconnect()


def subscribers(port: int) -> int:
    """How many connections listen on socket.io's channel on the Redis on ``port``."""
    client = redis.Redis(port=port)
    try:
        return int(dict(client.pubsub_numsub("socketio"))[b"socketio"])
    finally:
        client.close()


def scripts(port: int) -> int:
    """How many Lua scripts the Redis on ``port`` holds (they are not replicated)."""
    return int(info(port, "memory")["number_of_cached_scripts"])


async def test_primary_killed_mid_chat_the_nodes_follow_the_failover(tmp_path: Path) -> None:
    cluster = Sentinels(down_after_ms=1000, failover_timeout_ms=2000)
    nodes: list[Node] = []
    try:
        await asyncio.to_thread(cluster.start)
        env = {
            "CHATSERVER_REDIS_URL": cluster.url,
            "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "CHATSERVER_KDF_COST": "min",
            # The visitor's resume is retried while there is no primary; every try counts.
            "CHATSERVER_CHAT_REQUESTS_PER_MIN": "600",
        }
        nodes = [Node(env, tmp_path / "a.log"), Node(env, tmp_path / "b.log")]
        for node in nodes:
            await asyncio.to_thread(node.start)
        chat = Chat(nodes[0].url, nodes[1].url, await counsellor_token(cluster.url, "anna"))
        try:
            await chat.open()
            await chat.exchange(1, 2, 3)
            await chat.settle()
            await chat.ack(visitor_upto=2, counsellor_upto=1)

            old = await asyncio.to_thread(cluster.primary_port)
            new = next(s.port for s in cluster.servers if s.port != old)
            await eventually(lambda: asyncio.to_thread(cluster.in_step, old),
                             what="the replica to hold every write so far")
            assert await asyncio.to_thread(scripts, new) == 0
            chat.mark()
            # Seq 4 in flight both ways as the primary dies: sent, the answer not awaited.
            chat.v.sent[4], chat.c.sent[4] = random_ct(64), random_ct(64)
            await chat.visitor.sio.emit("send", {"seq": 4, "ct": chat.v.sent[4]},
                                        namespace="/visitor")
            await chat.counsellor.sio.emit("send", {"chat_id": chat.chat_id, "seq": 4,
                                                    "ct": chat.c.sent[4]},
                                           namespace="/counsellor")
            await asyncio.to_thread(cluster.kill, old)

            await eventually(lambda: asyncio.to_thread(cluster.primary_port),
                             until=lambda port: port == new, timeout=FAILOVER_WITHIN_S,
                             what="the sentinels to promote the replica",
                             ignoring=(LookupError,))
            # The fan-out follows by itself: each node's listener subscribes on the new primary.
            await eventually(lambda: asyncio.to_thread(subscribers, new),
                             until=lambda count: count == len(nodes), timeout=FAILOVER_WITHIN_S,
                             what="both nodes to listen on the new primary")

            # A publish lost with the old primary is not repeated: its envelope waits in the
            # buffer. The receivers ask for what they missed, as the widget (resume) and the
            # console (sync) do after a reconnect; the answers say whether seq 4 was kept.
            synced = await until_ok(chat.counsellor, "sync", {})
            assert [c["chat_id"] for c in synced["chats"]] == [chat.chat_id], synced
            resumed = await until_ok(chat.visitor, "resume", {"token": chat.visitor.resume_token})
            assert resumed["status"] == "active" and resumed["chat_id"] == chat.chat_id, resumed
            visitor_next, counsellor_next = resumed["next_seq"], synced["chats"][0]["next_seq"]
            assert visitor_next in (4, 5) and counsellor_next in (4, 5), \
                (visitor_next, counsellor_next)
            # Neither sender heard back about seq 4: both send the very same envelope again.
            assert (await chat.visitor_says(4))["dup"] is (visitor_next == 5)
            assert (await chat.counsellor_says(4))["dup"] is (counsellor_next == 5)

            # The token the counsellor signed in with was written before the kill: it still
            # opens a console connection.
            second = CounsellorClient(nodes[0].url, chat.counsellor.token)
            try:
                await second.connect()
                assert [c["chat_id"] for c in (await second.sync())["chats"]] == [chat.chat_id]
            finally:
                await second.disconnect()

            await chat.exchange(5, 6)
            await chat.settle()
            chat.check()
            for end in (chat.v, chat.c):
                assert end.since_mark().count(4) >= 1, (end.name, end.deliveries)
                # After the failover, relayed live through the new primary: once each.
                assert end.since_mark().count(5) == end.since_mark().count(6) == 1, \
                    (end.name, end.deliveries)
            await chat.ack(visitor_upto=6, counsellor_upto=6)
            # The nodes loaded the relay's scripts into the new primary when it said NOSCRIPT.
            assert await asyncio.to_thread(scripts, new) >= 2
            assert (await chat.counsellor.end(chat.chat_id))["ok"]
            assert (await chat.visitor.expect("ended"))["reason"] == "counsellor"
        finally:
            await chat.close()
    finally:
        for node in nodes:
            await asyncio.to_thread(node.stop)
        await asyncio.to_thread(cluster.cleanup)
    for node in nodes:
        assert b"Traceback" not in node.output()
