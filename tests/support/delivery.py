"""The delivery rules of ``jslib/relay.js`` for the Python test clients, as state machines
without I/O (the clients in ``tests/support/e2e_clients.py`` drive them over a socket).

:class:`Outbox` keeps every envelope until a receipt covers it, hands out one envelope at a time
in ``seq`` order, gives a refused envelope's ``seq`` to the next one and after a reconnect sends
everything undelivered again. :class:`Inbox` hands envelopes over in order and once,
acknowledges only up to the last contiguous ``seq`` the application took (reporting what it
could not show as lost) and says when there is a gap to resync. docs/protocol.md ("Delivery")
states the rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import socketio

MAX_LOST = 32
MAX_HELD = 1000
# Answers after which the same seq goes again later (the envelope may or may not be at the
# relay); "disconnected" waits for the resume.
RETRY = frozenset({"rate_limited", "unavailable", "internal", "timeout", "disconnected"})
# The pauses of jslib/relay.js: a refusal costs a strike, and 40 in 10 s close the socket.
RETRY_S, RETRY_MAX_S = 0.5, 4.0
# How long a gap may last before the receiver asks for a resync (then longer each time).
GAP_S, GAP_MAX_S = 0.3, 4.0

State = Literal["queued", "sent", "delivered", "lost", "failed"]
Verdict = Literal["retry", "stall", "failed"]


@dataclass(eq=False)
class Entry:
    """One envelope of an outbox: its ciphertext, its seq once it has gone, its state."""

    ct: str = field(repr=False)
    tag: Any = None
    seq: int | None = None
    state: State = "queued"
    error: str = ""
    again: bool = False
    # The relay's answer to the send that it accepted or refused for good.
    answer: dict[str, Any] | None = None


class Outbox:
    """The sending half of one chat (``createOutbox`` in ``jslib/relay.js``)."""

    def __init__(self, next_seq: int = 1) -> None:
        self.next_seq = next_seq
        self.entries: list[Entry] = []
        self.done: list[Entry] = []
        self.stalled = False

    def push(self, ct: str, tag: Any = None) -> Entry:
        entry = Entry(ct, tag)
        self.entries.append(entry)
        return entry

    def due(self) -> Entry | None:
        """The envelope to send now (numbered if it had no seq yet), or None."""
        if self.stalled:
            return None
        entry = next((e for e in self.entries if e.again or e.state == "queued"), None)
        if entry is not None and entry.seq is None:
            entry.seq = self.next_seq
        return entry

    def accepted(self, entry: Entry) -> None:
        """The relay answered ``ok`` (``dup`` included) for ``entry``."""
        assert entry.seq is not None
        self.next_seq = max(self.next_seq, entry.seq + 1)
        entry.again = False
        if entry.state == "queued":
            entry.state = "sent"

    def refused(self, entry: Entry, code: str) -> Verdict:
        """The relay refused ``entry`` or did not answer: what happens next."""
        if code in RETRY:
            return "retry"
        if code == "bad_seq":
            self.stalled = True
            return "stall"
        if entry.state == "queued" and code == "invalid":
            entry.seq = None  # refused as such: the seq is not spent
            self._finish(entry, "failed", code)
            return "failed"
        for other in list(self.entries):
            self._finish(other, "failed", code)
        return "failed"

    def delivered(self, upto: int, lost: list[int] | tuple[int, ...] = ()) -> None:
        """A receipt: the receiver showed everything up to ``upto`` but ``lost``."""
        for entry in list(self.entries):
            if entry.seq is not None and entry.seq <= upto:
                self.next_seq = max(self.next_seq, entry.seq + 1)
                self._finish(entry, "lost" if entry.seq in lost else "delivered")

    def online(self, next_seq: int) -> None:
        """Back after a resume/sync that says the relay expects ``next_seq``."""
        for entry in self.entries:
            if entry.seq is None:
                continue
            if entry.seq >= next_seq:
                entry.seq = None
            elif entry.state == "queued":
                entry.state = "sent"
        self.next_seq = next_seq
        self.stalled = False
        self.redeliver()

    def redeliver(self) -> None:
        """Send everything sent but undelivered again (the relay relays it again)."""
        for entry in self.entries:
            if entry.state == "sent":
                entry.again = True

    @property
    def undelivered(self) -> list[Entry]:
        return list(self.entries)

    def _finish(self, entry: Entry, state: State, error: str = "") -> None:
        if entry in self.entries:
            self.entries.remove(entry)
            entry.state, entry.error = state, error
            self.done.append(entry)


class Inbox:
    """The receiving half of one chat (``createInbox`` in ``jslib/relay.js``), pulled by the
    application: ``take`` the next envelope, then say whether it was ``shown``."""

    def __init__(self, acked: int | None = 0) -> None:
        self.cursor = acked
        self.confirmed = acked or 0
        self.held: dict[int, str] = {}
        self.lost: list[int] = []
        self.opening: int | None = None
        self.deliveries = 0  # envelopes received, duplicates included

    def receive(self, seq: int, ct: str) -> bool:
        """An envelope from the relay; False if it is a duplicate (or far out of range)."""
        self.deliveries += 1
        if self.cursor is not None and (seq <= self.cursor or seq > self.cursor + MAX_HELD):
            return False
        if seq == self.opening or seq in self.held or len(self.held) >= MAX_HELD:
            return False
        self.held[seq] = ct
        return True

    def start(self, acked: int) -> None:
        """Where the relay says this receiver stands; never back."""
        if self.cursor is None or acked > self.cursor:
            self.cursor = acked
            self.held = {s: ct for s, ct in self.held.items() if s > acked}
        self.confirmed = max(self.confirmed, acked)

    def take(self) -> tuple[int, str] | None:
        """The next envelope in order, if it is here."""
        if self.cursor is None or self.opening is not None or self.cursor + 1 not in self.held:
            return None
        seq = self.cursor + 1
        self.opening = seq
        return seq, self.held.pop(seq)

    def shown(self, seq: int, ok: bool) -> None:
        """The application showed ``seq`` (``ok``) or could not (it is reported lost)."""
        assert seq == self.opening, (seq, self.opening)
        self.opening = None
        self.cursor = seq
        if not ok:
            self.lost.append(seq)

    @property
    def gap(self) -> bool:
        """Envelopes wait beyond one that is missing: time to ask for a resync."""
        return (self.cursor is not None and self.opening is None and bool(self.held)
                and self.cursor + 1 not in self.held)

    def ack_due(self) -> tuple[int, list[int]] | None:
        """The acknowledgement to send now: ``(upto, lost)``, at most MAX_LOST lost."""
        if self.cursor is None or self.cursor <= self.confirmed:
            return None
        report = [s for s in self.lost if self.confirmed < s <= self.cursor]
        upto = report[MAX_LOST] - 1 if len(report) > MAX_LOST else self.cursor
        return upto, [s for s in report if s <= upto]

    def acked(self, upto: int) -> None:
        """The relay took the acknowledgement up to ``upto``."""
        self.confirmed = max(self.confirmed, upto)
        self.lost = [s for s in self.lost if s > self.confirmed]


Transmit = Callable[[int, str], Awaitable[dict[str, Any]]]
Acknowledge = Callable[[int, list[int]], Awaitable[dict[str, Any]]]
Resync = Callable[[int], Awaitable[dict[str, Any]]]


async def answer_of(call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """The relay's answer, or the error shape for a call that got none."""
    try:
        return await call
    except socketio.exceptions.TimeoutError:
        return {"error": "timeout", "message": "no answer"}
    except (socketio.exceptions.SocketIOError, ConnectionError) as exc:
        return {"error": "disconnected", "message": type(exc).__name__}


class Link:
    """One chat's outbox and inbox over a socket: what the pages do with ``jslib/relay.js``."""

    def __init__(self, transmit: Transmit, acknowledge: Acknowledge, resync: Resync,
                 next_seq: int = 1, acked: int | None = 0) -> None:
        self.outbox = Outbox(next_seq)
        self.inbox = Inbox(acked)
        self._transmit, self._acknowledge, self._resync = transmit, acknowledge, resync
        # What recovering took: resyncs asked for, and sends refused or unanswered.
        self.resyncs = 0
        self.retries = 0
        self.resent = 0
        # After a refusal or a call without answer nothing goes before _not_before, and each
        # further one doubles the pause: a client that hammers a rate limit gets closed.
        self._pause = RETRY_S
        self._not_before = 0.0
        self._gap_at: float | None = None
        self._gap_pause = GAP_S

    def _backoff(self) -> None:
        self._not_before = asyncio.get_running_loop().time() + self._pause
        self._pause = min(RETRY_MAX_S, self._pause * 2)

    def _calm(self) -> None:
        self._pause = RETRY_S

    async def flush(self, target: Entry | None = None, timeout: float = 5.0
                    ) -> dict[str, Any] | None:
        """Send what is due, one at a time, until nothing is or the socket is away; returns
        the answer for ``target``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (entry := self.outbox.due()) is not None:
            assert entry.seq is not None
            wait = self._not_before - loop.time()
            if wait > 0:
                if loop.time() + wait > deadline:
                    break
                # Backing off before the same seq goes again: time passes on purpose.
                await asyncio.sleep(wait)
            self.resent += entry.again
            answer = await answer_of(self._transmit(entry.seq, entry.ct))
            if answer.get("ok"):
                entry.answer = entry.answer or answer
                self.outbox.accepted(entry)
                self._calm()
                continue
            code = answer["error"]
            self.retries += 1
            verdict = self.outbox.refused(entry, code)
            if verdict == "failed":
                entry.answer = answer
                continue
            if verdict == "stall" or code == "disconnected":
                break
            self._backoff()
        return None if target is None else target.answer

    async def acknowledge(self) -> None:
        """Send the acknowledgement that is due; one that gets no answer is sent again later."""
        while (due := self.inbox.ack_due()) is not None:
            if asyncio.get_running_loop().time() < self._not_before:
                return
            upto, lost = due
            if not (await answer_of(self._acknowledge(upto, lost))).get("ok"):
                self._backoff()
                return
            self.inbox.acked(upto)

    async def resync(self) -> None:
        assert self.inbox.cursor is not None
        self.resyncs += 1
        answer = await answer_of(self._resync(self.inbox.cursor))
        if answer.get("ok"):
            self.inbox.start(answer["acked"])  # what expired unacknowledged counts as lost

    async def watch_gap(self, now: float) -> float | None:
        """Ask for a resync once a gap has lasted a moment (longer each time while it stays);
        returns when to look again, or None without a gap."""
        if not self.inbox.gap:
            self._gap_at, self._gap_pause = None, GAP_S
            return None
        if self._gap_at is None:
            self._gap_at = now + self._gap_pause
        elif now >= self._gap_at:
            await self.resync()
            self._gap_pause = min(GAP_MAX_S, self._gap_pause * 2)
            self._gap_at = now + self._gap_pause
        return self._gap_at

    def resumed(self, next_seq: int, acked: int, receipt: dict[str, Any]) -> None:
        """Where the relay says this side stands after a (re)connect."""
        self.outbox.delivered(receipt["upto"], receipt.get("lost", []))
        self.outbox.online(next_seq)
        self.inbox.start(acked)
