"""Two applications chatting through the relay while something breaks, and the property every
fault test checks afterwards: each message reaches the other application exactly once and in
order, in both directions, and nothing is marked delivered that the receiver had not shown.

The visitor and the counsellor are the end-to-end test clients (``E2EVisitor``,
``E2ECounsellor``) with their outboxes and inboxes; :meth:`Conversation.settle` does what the
pages' timers do (receive what arrived, send what is due, send the undelivered again now and
then) until everything has arrived, within a bounded time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import socketio

from tests.support.clients import CounsellorClient, VisitorClient
from tests.support.delivery import Link
from tests.support.e2e_clients import E2ECounsellor, E2EVisitor, Pki
from tests.support.nodes import Node, counsellor_token
from tests.support.waiting import eventually

# Node settings for fault tests: every address is 127.0.0.1 here, so the per-address limits
# that protect a real installation would only count the test's own chats.
NODE_ENV = {
    "CHATSERVER_KDF_COST": "min",
    "CHATSERVER_CHAT_REQUESTS_PER_MIN": "600",
    "CHATSERVER_ADDR_CONNECTS_PER_MIN": "6000",
    "CHATSERVER_ADDR_REQUESTS_PER_MIN": "6000",
    "CHATSERVER_ADDR_MSGS_PER_S": "1000",
}

# How long envelopes may stay undelivered before they are sent again, doubling while they
# stay (the pages start at 5 s).
REDELIVER_S, REDELIVER_MAX_S = 1.0, 8.0


@dataclass
class Side:
    """What one application did and saw."""

    name: str
    said: list[str] = field(default_factory=list)
    # Each message shown, with the moment it was shown.
    heard: list[tuple[str, float]] = field(default_factory=list)
    # The moment this side saw each of its own messages marked delivered (or lost).
    marked: dict[str, tuple[str, float]] = field(default_factory=dict)


async def connected(raw: VisitorClient | CounsellorClient) -> bool:
    await raw.connect()
    return True


class Conversation:
    """A visitor and a counsellor in one accepted, encrypted chat."""

    def __init__(self, visitor: E2EVisitor, counsellor: E2ECounsellor, chat_id: str) -> None:
        self.visitor, self.counsellor, self.chat_id = visitor, counsellor, chat_id
        self.v, self.c = Side("visitor"), Side("counsellor")
        self._count = 0
        # Connections replaced by reconnect() (a test that expects none can say so).
        self.reconnects = 0
        self._redeliver_at = time.monotonic() + REDELIVER_S
        self._redeliver_pause = REDELIVER_S
        self._undelivered = 0

    @property
    def links(self) -> tuple[Link, Link]:
        return self.visitor.link, self.counsellor.link(self.chat_id)

    def _text(self, side: Side) -> str:
        self._count += 1
        return f"{side.name}-{self._count}-{'Grüße ' * (self._count % 3)}"

    async def visitor_says(self) -> dict[str, Any]:
        """The visitor types one message (the answer may be an error: it stays queued)."""
        text = self._text(self.v)
        self.v.said.append(text)
        return await self.visitor.send_text(text, tag=text)

    async def counsellor_says(self) -> dict[str, Any]:
        text = self._text(self.c)
        self.c.said.append(text)
        return await self.counsellor.send_text(self.chat_id, text, tag=text)

    async def move_visitor(self, url: str) -> dict[str, Any]:
        """The widget's socket went away with its node: it connects to ``url`` and resumes."""
        old = self.visitor.raw
        await old.disconnect()
        raw = VisitorClient(url)
        raw.resume_token = old.resume_token
        await eventually(lambda: connected(raw), what="the visitor to connect",
                         ignoring=(socketio.exceptions.ConnectionError,))
        self.visitor.raw = raw
        self.reconnects += 1
        answer = await self.visitor.resumed(old.resume_token)
        assert answer.get("ok") and answer["status"] == "active", answer
        return answer

    async def move_counsellor(self, url: str) -> dict[str, Any]:
        """The console's socket went away with its node: it connects to ``url`` and syncs."""
        old = self.counsellor.raw
        await old.disconnect()
        raw = CounsellorClient(url, old.token)
        await eventually(lambda: connected(raw), what="the counsellor to connect",
                         ignoring=(socketio.exceptions.ConnectionError,))
        self.counsellor.raw = raw
        self.reconnects += 1
        answer = await self.counsellor.synced()
        assert [c["chat_id"] for c in answer["chats"]] == [self.chat_id], answer
        return answer

    async def pull(self) -> None:
        """Show whatever has arrived at either end, and note the receipts each end saw."""
        for side, receive in ((self.v, self.visitor.receive),
                              (self.c, lambda timeout: self.counsellor.receive(self.chat_id,
                                                                                timeout))):
            while True:
                try:
                    payload = await receive(timeout=0.02)
                except TimeoutError:
                    break
                assert payload["t"] == "text", payload
                side.heard.append((str(payload["body"]), time.monotonic()))
        for side, link in zip((self.v, self.c), self.links, strict=True):
            for entry in link.outbox.done:
                if entry.tag is not None and entry.tag not in side.marked:
                    side.marked[entry.tag] = (entry.state, time.monotonic())

    async def step(self) -> bool:
        """One round of what the pages do; True once everything said has arrived."""
        await self.pull()
        now = time.monotonic()
        undelivered = sum(len(link.outbox.entries) for link in self.links)
        if undelivered < self._undelivered:  # a receipt came: start the pauses over
            self._redeliver_pause = REDELIVER_S
            self._redeliver_at = now + REDELIVER_S
        self._undelivered = undelivered
        if now >= self._redeliver_at:
            self._redeliver_pause = min(REDELIVER_MAX_S, self._redeliver_pause * 2)
            self._redeliver_at = now + self._redeliver_pause
            for link in self.links:
                link.outbox.redeliver()
        for link in self.links:
            await link.flush(timeout=1.0)
            await link.acknowledge()
        await self.pull()
        done = all(not link.outbox.entries for link in self.links)
        return done and [t for t, _ in self.c.heard] == self.v.said \
            and [t for t, _ in self.v.heard] == self.c.said

    async def settle(self, timeout: float = 30.0) -> None:
        try:
            await eventually(self.step, what="every message at the other end, and its receipt",
                             timeout=timeout, interval=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {self.describe()}") from None

    def describe(self) -> str:
        """Where both ends stand, in numbers only (no text, no ciphertext)."""
        parts = []
        for side, other, link in zip((self.v, self.c), (self.c, self.v), self.links,
                                     strict=True):
            out, box = link.outbox, link.inbox
            parts.append(
                f"{side.name}: said {len(side.said)}, other heard {len(other.heard)}; outbox "
                f"next {out.next_seq} stalled {out.stalled} waiting "
                f"{[(e.seq, e.state, e.again) for e in out.entries]}; inbox cursor "
                f"{box.cursor} confirmed {box.confirmed} holding {sorted(box.held)}; "
                f"resyncs {link.resyncs} retries {link.retries} resent {link.resent}")
        return " | ".join(parts)

    def check(self) -> None:
        """The delivery property."""
        for sender, receiver in ((self.v, self.c), (self.c, self.v)):
            heard = [text for text, _ in receiver.heard]
            assert heard == sender.said, f"{receiver.name} did not get {sender.name}'s " \
                "messages exactly once and in order"
            shown_at = dict(receiver.heard)
            for text in sender.said:
                state, at = sender.marked[text]
                assert state == "delivered", (sender.name, text, state)
                assert shown_at[text] <= at, f"{text} was marked delivered before it was shown"


async def fire(*calls: Any) -> None:
    """Run sends side by side, as two people typing at once (errors stay in the outboxes)."""
    await asyncio.gather(*calls)


async def issue_token(node: Node, redis_url: str, name: str = "anna",
                      pseudonym: str = "Anna") -> str:
    """A console connection token for nodes sharing ``redis_url`` and ``node``'s database
    (:func:`tests.support.nodes.counsellor_token`)."""
    return await counsellor_token(node, redis_url, name, pseudonym)


async def open_conversation(pki: Pki, visitor_url: str, counsellor_url: str, token: str,
                            pseudonym: str = "Anna") -> Conversation:
    """An accepted, encrypted chat: the visitor on one node, the counsellor on another."""
    raw_c = CounsellorClient(counsellor_url, token)
    await raw_c.connect()
    assert (await raw_c.duty(True))["ok"]
    raw_v = VisitorClient(visitor_url)
    await raw_v.connect()
    requested = await raw_v.request()
    assert requested.get("ok"), requested
    visitor, counsellor = E2EVisitor(raw_v, pki), E2ECounsellor(raw_c, pki.identity(pseudonym))
    await asyncio.gather(visitor.handshake("accepted", timeout=15),
                         counsellor.accept(raw_v.chat_id, timeout=15))
    return Conversation(visitor, counsellor, raw_v.chat_id)


async def close_conversation(talk: Conversation) -> None:
    """End the chat (so the counsellor stays below the chat limit) and hang up both ends."""
    try:
        await talk.counsellor.raw.call("end", {"chat_id": talk.chat_id}, timeout=5)
    finally:
        await talk.visitor.raw.disconnect()
        await talk.counsellor.raw.disconnect()


async def listening(redis_url: str, *nodes: Node) -> None:
    """Wait until every node hears what every other node publishes (after a fault, before
    anything announced only once, such as ``accepted``): a probe counsellor on each node goes
    on duty, and the roster must reach the probes on all the others."""
    token = await issue_token(nodes[0], redis_url, "probe", "Probe")
    probes = [CounsellorClient(node.url, token) for node in nodes]
    try:
        for probe in probes:
            await probe.connect()

        async def heard_everywhere() -> bool:
            for probe in probes:
                for other in probes:
                    other.drain("roster")
                assert (await probe.duty(True))["ok"]
                for other in probes:
                    try:
                        await other.expect("roster", timeout=0.5)
                    except TimeoutError:
                        return False
            return True

        await eventually(heard_everywhere, what="every node to hear the others", timeout=30)
        assert (await probes[0].duty(False))["ok"]
    finally:
        for probe in probes:
            await probe.disconnect()


async def warm_up(redis_url: str, *nodes: Node) -> None:
    """Have every node subscribe to pub/sub (python-socketio does so at its first connection)."""
    await listening(redis_url, *nodes)
