"""Both ends of one chat as their applications see them, for tests in which servers stop and
clients reconnect: what each end sent and got acknowledged, every delivery (repeats included),
each sequence number kept once, and the checks that nothing acknowledged was lost and nothing
a receiver had acknowledged came again.
"""

from __future__ import annotations

from typing import Any

from tests.support.clients import CounsellorClient, VisitorClient, random_ct
from tests.support.waiting import eventually


class Ledger:
    """One end of the chat; deduplicates what it receives by sequence number, as the widget
    and the console do."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: dict[int, str] = {}  # seq -> ciphertext, acknowledged (or being resent)
        self.received: dict[int, str] = {}
        self.deliveries: list[int] = []  # every msg the server pushed, repeats included
        self.acked_upto = 0  # what this end acknowledged to the server
        self.mark = 0  # deliveries before the last mark (a reconnect, a stop)

    def take(self, messages: list[dict[str, Any]]) -> None:
        for msg in messages:
            self.deliveries.append(msg["seq"])
            assert self.received.setdefault(msg["seq"], msg["ct"]) == msg["ct"], \
                f"{self.name}: same seq, other content"

    def since_mark(self) -> list[int]:
        """The sequence numbers delivered since the last mark, repeats included."""
        return self.deliveries[self.mark:]


class LedgerChat:
    """A visitor's and a counsellor's client in one chat, with a ledger each.

    Subclasses say how a send is repeated until acknowledged (:meth:`acknowledged`) and may
    replace the clients after a fault.
    """

    visitor: VisitorClient
    counsellor: CounsellorClient

    def __init__(self, settle_s: float = 15.0) -> None:
        self.v, self.c = Ledger("visitor"), Ledger("counsellor")
        self.chat_id = ""
        self.settle_s = settle_s

    async def acknowledged(self, client: VisitorClient | CounsellorClient, event: str,
                           payload: dict[str, Any]) -> dict[str, Any]:
        """Send ``event`` until the server acknowledges it."""
        raise NotImplementedError

    async def visitor_says(self, seq: int) -> dict[str, Any]:
        """Send the visitor's envelope ``seq`` (the very same one, if it was sent before)."""
        ct = self.v.sent.get(seq) or random_ct(64)
        answer = await self.acknowledged(self.visitor, "send", {"seq": seq, "ct": ct})
        self.v.sent[seq] = ct
        return answer

    async def counsellor_says(self, seq: int) -> dict[str, Any]:
        """Send the counsellor's envelope ``seq`` (the very same one, if it was sent before)."""
        ct = self.c.sent.get(seq) or random_ct(64)
        answer = await self.acknowledged(self.counsellor, "send",
                                         {"chat_id": self.chat_id, "seq": seq, "ct": ct})
        self.c.sent[seq] = ct
        return answer

    async def exchange(self, *seqs: int) -> None:
        """Visitor and counsellor take turns: each sends its envelope of every seq in ``seqs``."""
        for seq in seqs:
            await self.visitor_says(seq)
            await self.counsellor_says(seq)

    async def ack(self, visitor_upto: int, counsellor_upto: int) -> None:
        """Each end acknowledges what it received up to the given sequence number."""
        assert (await self.visitor.ack(visitor_upto))["ok"]
        assert (await self.counsellor.ack(self.chat_id, counsellor_upto))["ok"]
        self.v.acked_upto, self.c.acked_upto = visitor_upto, counsellor_upto

    def pump(self) -> None:
        """Move whatever the clients received into the ledgers."""
        self.v.take(self.visitor.drain("msg"))
        self.c.take(self.counsellor.drain("msg"))

    def delivered(self) -> bool:
        """Each end holds everything the other end got acknowledged."""
        self.pump()
        return set(self.v.sent) <= set(self.c.received) and \
            set(self.c.sent) <= set(self.v.received)

    async def settle(self) -> None:
        await eventually(self.delivered, what="every acknowledged envelope at the other end",
                         timeout=self.settle_s, interval=0.02)

    def mark(self) -> None:
        """Remember where the deliveries stand (before a fault)."""
        self.pump()
        self.v.mark, self.c.mark = len(self.v.deliveries), len(self.c.deliveries)

    def check(self) -> None:
        """Nothing acknowledged was lost or garbled; each end holds every sequence number once,
        without gaps; nothing a receiver had acknowledged came again since the last mark."""
        self.pump()
        assert self.c.received == self.v.sent, "a visitor envelope was lost or garbled"
        assert self.v.received == self.c.sent, "a counsellor envelope was lost or garbled"
        for end in (self.v, self.c):
            assert sorted(end.received) == list(range(1, len(end.received) + 1)), end.name
            assert all(seq > end.acked_upto for seq in end.since_mark()), \
                (end.name, end.deliveries)
