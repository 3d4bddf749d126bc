"""The chat lifecycle: queue, accept, envelope relay with acknowledgements, transfer, end.

The relay decides and the state remembers; namespaces only translate socket events into
calls here. Envelopes pass through as opaque ciphertext and are forgotten once acknowledged,
expired or the chat ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from chatserver.config import Config
from chatserver.errors import DomainError, ErrorCode, forbidden, not_found
from chatserver.relay.events import (
    ChatAbandoned,
    ChatAccepted,
    ChatEnded,
    ChatRefused,
    ChatRequested,
    ChatTransferred,
    EnvelopeRelayed,
    LifecycleEvent,
    Listener,
    TopicsChosen,
    UrgentRequested,
)
from chatserver.relay.outbound import OffDutyReason, Outbound, ToCounsellor, ToVisitor
from chatserver.relay.state import (
    MAX_LOST,
    Chat,
    Direction,
    Envelope,
    Identity,
    Receipt,
    State,
    secret_key,
)
from chatserver.relay.tokens import Tokens

log = logging.getLogger(__name__)

T = TypeVar("T")

# How far each accepted wait moves the average wait per queue place: about the last ten
# waits count, older ones fade.
WAIT_WEIGHT = 0.2


def receipt_payload(receipt: Receipt) -> dict[str, Any]:
    """A receipt as the ``delivered`` event says it; ``lost`` only when there is one."""
    payload: dict[str, Any] = {"upto": receipt.upto}
    if receipt.lost:
        payload["lost"] = list(receipt.lost)
    return payload


class Turns:
    """First come, first served per chat and direction (see ``Relay.turn``)."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def turn(self, chat_id: str, direction: Direction) -> AsyncIterator[None]:
        key = (chat_id, direction)
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]


class Relay:
    """Everything that happens to a chat, for both namespaces and every node."""

    def __init__(
        self,
        config: Config,
        state: State,
        outbound: Outbound,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state = state
        self.out = outbound
        self.clock = clock
        self._listeners: list[Listener] = []
        self._turns = Turns()
        self.tokens = Tokens(state)
        # Console connections on this node, per counsellor id; the reaper renews their
        # presence in the shared state (``lapse_duty``).
        self._consoles: Counter[str] = Counter()

    def turn(self, chat_id: str, direction: Direction) -> AbstractAsyncContextManager[None]:
        """Hold this while handling one send, from its arrival to its relay.

        Each socket event runs in its own task, and with Redis a later envelope's round trips
        can overtake an earlier one's: the state would refuse the earlier ``seq`` as a gap
        and the receiver would see them out of order. Taken before the first ``await``, the
        turn keeps a connection's sends in the order they arrived (the sender's socket is on
        this node, so a lock here is enough).
        """
        return self._turns.turn(chat_id, direction)

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` on lifecycle events (statistics, metrics)."""
        self._listeners.append(listener)

    async def notify(self, event: LifecycleEvent) -> None:
        """Tell listeners of ``event`` (the relay's own, and hand-off and drops)."""
        for listener in self._listeners:
            try:
                await listener(event)
            except Exception as exc:  # a statistics hiccup must never break a chat
                log.error("listener failed on %s: %s", type(event).__name__,
                          type(exc).__name__)

    # -- queries the edges need ---------------------------------------------------------

    async def get_chat(self, chat_id: str) -> Chat | None:
        """The chat, or None once it ended."""
        return await self.state.get_chat(chat_id)

    async def has_chats(self, counsellor_id: str) -> bool:
        """True while the counsellor holds an accepted chat."""
        return bool(await self.state.chats_of(counsellor_id))

    async def on_duty_count(self) -> int:
        """How many counsellors are on duty (whole installation)."""
        return len(await self.state.roster())

    async def counts(self) -> dict[str, int]:
        """Queue length, counsellors on duty and active chats, for the whole installation."""
        queued = len(await self.state.queued())
        on_duty = len(await self.state.roster())
        # Every chat has an activity time, so "idle for more than -inf seconds" lists them all.
        every_chat = len(await self.state.idle_expired(self.clock(), -math.inf))
        return {"queue": queued, "on_duty": on_duty, "active": max(0, every_chat - queued)}

    async def team_counts(self) -> dict[str, int]:
        """The team view's counts: waiting, the longest wait in whole seconds, counsellors on
        duty and active chats. Counts only: nothing of any one chat leaves here."""
        queued = await self.state.queued()
        now = self.clock()
        longest = max((now - chat.requested_at for chat in queued), default=0.0)
        counts = await self.counts()
        return {"waiting": counts["queue"], "longest_wait_s": max(0, int(longest)),
                "on_duty": counts["on_duty"], "active": counts["active"]}

    async def add_counts(self, hour: str, counts: dict[str, int]) -> None:
        """Add to the statistics counters of one UTC hour (shared by every node)."""
        await self.state.incr_stats(hour, counts)

    async def take_counts(self, before_hour: str) -> dict[str, dict[str, int]]:
        """Take out the statistics counters of every hour before ``before_hour``."""
        return await self.state.take_stats(before_hour)

    async def delivery(self, chat_id: str, sending: Direction) -> dict[str, Any]:
        """Where the sender of ``sending`` stands: the next ``seq`` it sends, the receipt of
        what it sent (``delivered``), and how far it acknowledged what it received
        (``acked``: its inbox starts after that)."""
        receiving: Direction = "v2c" if sending == "c2v" else "c2v"
        return {
            "next_seq": await self.state.next_seq(chat_id, sending),
            "delivered": receipt_payload(await self.state.receipt(chat_id, sending)),
            "acked": (await self.state.receipt(chat_id, receiving)).upto,
        }

    async def send_codename(self, chat_id: str, codename: str) -> None:
        """Give the visitor of ``chat_id`` the codename of their new record; it is kept and
        sent again on every resume until the widget acknowledges it."""
        await self.state.set_codename(chat_id, codename)
        await self.out.to_chat(chat_id, ToVisitor.CODENAME, {"codename": codename})

    async def link_record(self, chat_id: str, record_id: str) -> None:
        """The chat's later lines belong to ``record_id`` (filed from it): its counsellor's
        console learns it from the chat's view, and appends are allowed for it."""
        await self.state.link_record(chat_id, record_id)

    async def codename_seen(self, chat_id: str, codename: str) -> None:
        """The widget has shown ``codename``: forget it (a newer one stays)."""
        await self.state.clear_codename(chat_id, codename)

    # -- visitor side -----------------------------------------------------------------

    async def request_chat(self, entry: str, lang: str, record_id: str = "",
                           preferred: str = "", urgent: bool = False) -> tuple[Chat, str, int]:
        """Queue a new chat (an urgent one ahead of the others); returns it, its resume token
        and its queue position."""
        now = self.clock()
        chat = Chat(id=secrets.token_urlsafe(16), entry=entry, lang=lang, requested_at=now,
                    record_id=record_id, preferred=preferred, urgent=urgent)
        resume = secrets.token_urlsafe(24)
        try:
            position = await self.state.create_chat(chat, secret_key(resume), self.config.queue_cap)
        except Exception:
            await self.notify(ChatRefused(entry, lang))
            raise
        await self.notify(ChatRequested(entry, lang, now))
        if urgent:
            await self.notify(UrgentRequested(now))
        # A new chat queues last, and no one else's place moves, so only counsellors hear of
        # it; an urgent one moves those behind it back.
        await self.broadcast_queue(visitors=urgent)
        return chat, resume, position

    async def _per_place(self, on_duty: int) -> float:
        """Seconds of waiting per queue place: the average of recent accepted waits, or the
        configured guess before the first one."""
        average = await self.state.wait_average()
        if average is not None:
            return average
        return self.config.wait_estimate_per_position_s / max(1, on_duty)

    async def place_info(self, position: int) -> dict[str, Any]:
        """What a waiting visitor is told: place, estimated wait, and whether anyone is on
        duty to take the chat at all."""
        on_duty = len(await self.state.roster())
        return self._place_info(position, on_duty, await self._per_place(on_duty))

    @staticmethod
    def _place_info(position: int, on_duty: int, per_place: float) -> dict[str, Any]:
        return {"position": position, "estimate_s": math.ceil(position * per_place),
                "available": on_duty > 0}

    async def parked_codename(self, token: str) -> str:
        """The codename of a hand-off in the ended chat of resume ``token``, or ""."""
        return await self.state.parked_codename(secret_key(token))

    async def chat_for_resume(self, token: str) -> Chat:
        chat_id = await self.state.chat_by_resume(secret_key(token))
        chat = await self.state.get_chat(chat_id) if chat_id else None
        if chat is None:
            raise not_found("This chat has ended or the token is unknown.")
        return chat

    async def position(self, chat_id: str) -> int:
        for index, chat in enumerate(await self.state.queued(), start=1):
            if chat.id == chat_id:
                return index
        return 0

    async def visitor_present(self, chat: Chat, present: bool) -> None:
        await self.state.set_visitor_present(chat.id, present, self.clock())
        if chat.counsellor_id:
            await self.out.to_counsellor(chat.counsellor_id, ToCounsellor.PRESENCE,
                                         {"chat_id": chat.id, "present": present})

    async def replay(self, chat: Chat, direction: Direction, to_sid: str, after: int = 0
                     ) -> int:
        """Re-send every buffered envelope of ``direction`` with a ``seq`` above ``after`` to
        one socket (after a reconnect, or when its receiver asks for a resync); returns how
        far the receiver has acknowledged, counting what expired as lost."""
        now = self.clock()
        # Read before the buffer: an envelope appended meanwhile is then in the buffer.
        next_seq = await self.state.next_seq(chat.id, direction)
        pending = await self.state.pending(chat.id, direction, now)
        acked = await self._expired(chat, direction, next_seq, pending)
        if direction == "c2v":
            for env in pending:
                if env.seq > after:
                    await self.out.to_visitor_socket(to_sid, ToVisitor.MSG,
                                                     {"seq": env.seq, "ct": env.ct})
            # A codename the widget has not acknowledged yet comes again, after the messages.
            codename = await self.state.get_codename(chat.id)
            if codename:
                await self.out.to_visitor_socket(to_sid, ToVisitor.CODENAME,
                                                 {"codename": codename})
        else:
            for env in pending:
                if env.seq > after:
                    await self.out.to_counsellor_socket(
                        to_sid, ToCounsellor.MSG,
                        {"chat_id": chat.id, "seq": env.seq, "ct": env.ct})
        return acked

    async def _expired(self, chat: Chat, direction: Direction, next_seq: int,
                       pending: list[Envelope]) -> int:
        """Envelopes that stayed unacknowledged past ``CHATSERVER_ENVELOPE_TTL_S`` are gone
        from the buffer and can never be shown: the receipt moves past them as lost (the
        sender hears so), so that the receiver does not wait for them forever. Returns the
        receipt's ``upto``."""
        receipt = await self.state.receipt(chat.id, direction)
        first = pending[0].seq if pending else next_seq
        # In steps of at most MAX_LOST, each told to the sender: a receipt names that many.
        while receipt.upto < first - 1:
            upto = min(first - 1, receipt.upto + MAX_LOST)
            receipt = await self.state.ack(chat.id, direction, upto,
                                           tuple(range(receipt.upto + 1, upto + 1)))
            if direction == "v2c":
                await self.out.to_chat(chat.id, ToVisitor.DELIVERED, receipt_payload(receipt))
            else:
                await self.out.to_counsellor(chat.counsellor_id, ToCounsellor.DELIVERED,
                                             {"chat_id": chat.id, **receipt_payload(receipt)})
        return receipt.upto

    async def _resent(self, chat_id: str, direction: Direction, seq: int, holder: str) -> None:
        """A sender sent ``seq`` again: its first relay may have been lost (a lost publish, a
        lost reply), so the buffered envelope goes to the receiver once more; once it is
        acknowledged, the sender hears the receipt again instead."""
        buffered = next((env for env in await self.state.pending(chat_id, direction,
                                                                 self.clock())
                         if env.seq == seq), None)
        if buffered is not None:
            if direction == "v2c":
                await self.out.to_counsellor(holder, ToCounsellor.MSG, {
                    "chat_id": chat_id, "seq": buffered.seq, "ct": buffered.ct})
            else:
                await self.out.to_chat(chat_id, ToVisitor.MSG,
                                       {"seq": buffered.seq, "ct": buffered.ct})
            return
        receipt = await self.state.receipt(chat_id, direction)
        if receipt.upto >= seq:
            if direction == "v2c":
                await self.out.to_chat(chat_id, ToVisitor.DELIVERED, receipt_payload(receipt))
            else:
                await self.out.to_counsellor(holder, ToCounsellor.DELIVERED,
                                             {"chat_id": chat_id, **receipt_payload(receipt)})

    async def _active(self, chat_id: str) -> Chat:
        chat = await self.state.get_chat(chat_id)
        if chat is None:
            raise not_found()
        if chat.queued:
            raise DomainError(ErrorCode.BAD_STATE, "No counsellor has accepted this chat yet.")
        return chat

    async def visitor_send(self, chat_id: str, env: Envelope) -> bool:
        """Buffer and deliver a visitor envelope; False if it was a duplicate."""
        # One step in the state checks the chat and buffers the envelope: on Redis one round
        # trip instead of two per message (docs/benchmarks.md).
        result, counsellor_id = await self.state.append_held(
            chat_id, "v2c", env, self.clock(), self.config.envelope_ttl_s, "")
        if result == "dup":
            await self._resent(chat_id, "v2c", env.seq, counsellor_id)
            return False
        await self.notify(EnvelopeRelayed("v2c"))
        await self.out.to_counsellor(counsellor_id, ToCounsellor.MSG,
                                     {"chat_id": chat_id, "seq": env.seq, "ct": env.ct})
        return True

    async def visitor_ack(self, chat_id: str, upto: int, lost: tuple[int, ...] = ()) -> None:
        """The widget showed every counsellor envelope up to ``upto`` but ``lost``."""
        counsellor_id, receipt = await self.state.ack_held(chat_id, "c2v", upto, "", lost)
        await self.out.to_counsellor(counsellor_id, ToCounsellor.DELIVERED,
                                     {"chat_id": chat_id, **receipt_payload(receipt)})

    async def visitor_consent(self, chat_id: str, answer: str, version: str) -> None:
        """Remember the visitor's consent answer; without a yes no record can be created."""
        chat = await self._active(chat_id)
        await self.state.set_consent(chat.id, version if answer == "yes" else "")
        await self.out.to_counsellor(chat.counsellor_id, ToCounsellor.CONSENT,
                                     {"chat_id": chat.id, "answer": answer, "version": version})

    # -- counsellor side --------------------------------------------------------------

    async def own_chat(self, who: Identity, chat_id: str) -> Chat:
        """The chat if it is assigned to ``who``; otherwise ``not_found`` or ``forbidden``."""
        return await self._own(who, chat_id)

    async def _own(self, who: Identity, chat_id: str) -> Chat:
        chat = await self.state.get_chat(chat_id)
        if chat is None:
            raise not_found()
        if chat.counsellor_id != who.id:
            raise forbidden("This chat is not assigned to you.")
        return chat

    def chat_view(self, chat: Chat, delivery: dict[str, Any] | None = None) -> dict[str, Any]:
        view: dict[str, Any] = {
            "chat_id": chat.id,
            "entry": chat.entry,
            "lang": chat.lang,
            "waiting_s": max(0, int(self.clock() - chat.requested_at)),
        }
        if chat.urgent:
            view["urgent"] = True
        if chat.record_id:
            view["record_id"] = chat.record_id
            view["preferred"] = chat.preferred
        if delivery:
            view.update(delivery)
            view["visitor_present"] = not chat.visitor_left_at
        return view

    async def snapshot(self, who: Identity) -> dict[str, Any]:
        """What a (re)connecting counsellor needs to draw the console."""
        chats = []
        for chat_id in await self.state.chats_of(who.id):
            chat = await self.state.get_chat(chat_id)
            if chat is not None:
                chats.append(self.chat_view(chat, await self.delivery(chat_id, "c2v")))
        roster = await self.state.roster()
        return {
            "me": {"id": who.id, "pseudonym": who.pseudonym},
            "on_duty": any(d.id == who.id for d in roster),
            "queue": [self.chat_view(c) for c in await self.state.queued()],
            "roster": [{"id": d.id, "pseudonym": d.pseudonym, "chats": d.chats} for d in roster],
            "chats": chats,
        }

    async def replay_all(self, who: Identity, sid: str) -> None:
        for chat_id in await self.state.chats_of(who.id):
            chat = await self.state.get_chat(chat_id)
            if chat is not None:
                await self.replay(chat, "v2c", sid)

    async def set_duty(self, who: Identity, on: bool) -> None:
        await self.state.set_duty(who, on)
        await self.broadcast_roster()
        # Waiting visitors' estimates depend on how many counsellors are on duty.
        await self.broadcast_queue()

    async def accept(self, who: Identity, chat_id: str) -> dict[str, Any]:
        if not any(d.id == who.id for d in await self.state.roster()):
            raise DomainError(ErrorCode.BAD_STATE, "Go on duty before accepting chats.")
        now = self.clock()
        waiting = await self.state.get_chat(chat_id)
        if waiting is not None and waiting.preferred and waiting.preferred != who.id:
            roster = await self.state.roster()
            if any(d.id == waiting.preferred for d in roster):
                raise DomainError(ErrorCode.RESERVED,
                                  "This returning visitor waits for their counsellor.")
        chat = await self.state.claim(chat_id, who, self.config.max_chats_per_counsellor, now)
        await self.out.to_chat(chat.id, ToVisitor.ACCEPTED, {"pseudonym": who.pseudonym})
        wait = now - chat.requested_at
        await self.state.add_wait(wait / max(1, chat.place), WAIT_WEIGHT)
        if waiting is not None and waiting.requeued:
            # Counted as accepted once; taken up again by a colleague is a transfer.
            await self.notify(ChatTransferred(chat.entry, chat.lang))
        else:
            await self.notify(ChatAccepted(chat.entry, chat.lang, wait, now))
        await self.broadcast_queue()
        await self.broadcast_roster()
        return self.chat_view(chat, await self.delivery(chat.id, "c2v"))

    async def counsellor_send(self, who: Identity, chat_id: str, env: Envelope) -> bool:
        result, _ = await self.state.append_held(
            chat_id, "c2v", env, self.clock(), self.config.envelope_ttl_s, who.id)
        if result == "dup":
            await self._resent(chat_id, "c2v", env.seq, who.id)
            return False
        await self.notify(EnvelopeRelayed("c2v"))
        await self.out.to_chat(chat_id, ToVisitor.MSG, {"seq": env.seq, "ct": env.ct})
        return True

    async def counsellor_ack(self, who: Identity, chat_id: str, upto: int,
                             lost: tuple[int, ...] = ()) -> None:
        """The console showed every visitor envelope up to ``upto`` but ``lost``."""
        _, receipt = await self.state.ack_held(chat_id, "v2c", upto, who.id, lost)
        await self.out.to_chat(chat_id, ToVisitor.DELIVERED, receipt_payload(receipt))

    async def transfer(self, who: Identity, chat_id: str, to: str, note: str) -> None:
        if to == who.id:
            raise DomainError(ErrorCode.INVALID, "Choose a colleague, not yourself.")
        target = next((d for d in await self.state.roster() if d.id == to), None)
        if target is None:
            raise DomainError(ErrorCode.NOT_FOUND, "That colleague is not on duty.")
        await self._own(who, chat_id)
        chat = await self.state.reassign(
            chat_id, who.id, Identity(target.id, target.pseudonym, "counsellor"),
            self.config.max_chats_per_counsellor,
        )
        await self.out.to_counsellor(who.id, ToCounsellor.UNASSIGNED, {"chat_id": chat.id})
        await self.out.to_counsellor(target.id, ToCounsellor.ASSIGNED, {
            "chat": self.chat_view(chat, await self.delivery(chat.id, "c2v")),
            "from": who.pseudonym,
            "note": note,
        })
        # What the previous counsellor had not shown was dropped with the transfer: the
        # visitor's receipt says so before the new handshake starts.
        await self.out.to_chat(chat.id, ToVisitor.DELIVERED,
                               receipt_payload(await self.state.receipt(chat.id, "v2c")))
        await self.out.to_chat(chat.id, ToVisitor.TRANSFERRED, {"pseudonym": target.pseudonym})
        await self.notify(ChatTransferred(chat.entry, chat.lang))
        await self.broadcast_roster()

    async def counsellor_end(self, who: Identity, chat_id: str,
                             topics: tuple[str, ...] = ()) -> None:
        """End one of ``who``'s chats; ``topics`` (checked ids) are counted with the end."""
        await self._own(who, chat_id)
        await self.end(chat_id, "counsellor", topics)

    # -- both -------------------------------------------------------------------------

    async def end(self, chat_id: str, reason: str, topics: tuple[str, ...] = ()) -> bool:
        """End a chat and delete everything about it at once; True if this call ended it.

        ``topics`` are counted only if this call ended an accepted chat, in the same hour as
        its end, so a chat counts its topics once and never without being counted as ended.
        """
        # A codename the visitor has not acknowledged outlives the chat by the grace period:
        # a visitor away at the end gets it when they resume.
        chat = await self.state.end_chat(chat_id, self.config.visitor_grace_s)
        if chat is None:
            return False
        now = self.clock()
        await self.out.to_chat(chat.id, ToVisitor.ENDED, {"reason": reason})
        await self.out.close_chat(chat.id)
        if chat.queued and not chat.requeued:
            await self.notify(ChatAbandoned(chat.entry, chat.lang, now - chat.requested_at, now))
        else:
            await self.notify(ChatEnded(chat.entry, chat.lang, reason,
                                        now - chat.accepted_at, now))
            if topics:
                await self.notify(TopicsChosen(tuple(dict.fromkeys(topics)), now))
        if chat.queued:
            await self.broadcast_queue()
        else:
            await self.out.to_counsellor(chat.counsellor_id, ToCounsellor.ENDED,
                                         {"chat_id": chat.id, "reason": reason})
            await self.broadcast_roster()
        return True

    async def broadcast_queue(self, visitors: bool = True) -> None:
        """The queue to every counsellor and, with ``visitors``, each waiting visitor's place."""
        queued = await self.state.queued()
        await self.out.to_counsellors(ToCounsellor.QUEUE,
                                      {"items": [self.chat_view(c) for c in queued]})
        if not queued or not visitors:
            return
        on_duty = len(await self.state.roster())
        per_place = await self._per_place(on_duty)
        for position, chat in enumerate(queued, start=1):
            await self.out.to_chat(chat.id, ToVisitor.QUEUE,
                                   self._place_info(position, on_duty, per_place))

    async def drops_waiting(self, count: int) -> None:
        """Every console: how many anonymous message threads await an answer."""
        await self.out.to_counsellors(ToCounsellor.DROPS_WAITING, {"count": count})

    async def broadcast_roster(self) -> None:
        roster = await self.state.roster()
        items = [{"id": d.id, "pseudonym": d.pseudonym, "chats": d.chats} for d in roster]
        await self.out.to_counsellors(ToCounsellor.ROSTER, {"items": items})

    async def reap(self) -> int:
        """End chats whose visitor left past the grace period or that went idle."""
        now = self.clock()
        ended = 0
        due = [*await self.state.abandoned(now, self.config.visitor_grace_s),
               *await self.state.idle_expired(now, self.config.chat_idle_ttl_s)]
        for chat_id in due:
            try:
                ended += await self.end(chat_id, "timeout")
            except Exception as exc:  # one chat that cannot end must not keep the rest alive
                log.warning("reaper could not end a chat: %s", type(exc).__name__)
        return ended

    # -- counsellor presence ------------------------------------------------------------

    async def console_opened(self, who: Identity) -> None:
        """A console connection of ``who`` opened on this node."""
        self._consoles[who.id] += 1
        await self._seen_now(who.id)

    async def console_closed(self, who: Identity) -> None:
        """A console connection of ``who`` closed on this node."""
        self._consoles[who.id] -= 1
        if self._consoles[who.id] <= 0:
            del self._consoles[who.id]
            # The grace counts from this moment, not from the last renewal.
            await self._seen_now(who.id)

    async def _seen_now(self, counsellor_id: str) -> None:
        try:
            await self.state.mark_seen([counsellor_id], self.clock())
        except Exception as exc:  # the next presence pass renews it; never refuse a socket
            log.warning("could not note a console connection: %s", type(exc).__name__)

    async def lapse_duty(self) -> int:
        """Renew the presence of this node's counsellors, then take off duty everyone whom no
        node has seen for ``duty_grace_s``; returns how many went off duty."""
        now = self.clock()
        if self._consoles:
            await self.state.mark_seen(sorted(self._consoles), now)
        cutoff = now - self.config.duty_grace_s
        ended = 0
        for counsellor_id in await self.state.lapsed(now, self.config.duty_grace_s):
            try:
                ended += await self.end_duty(counsellor_id, OffDutyReason.AWAY,
                                             seen_before=cutoff)
            except Exception as exc:  # one that cannot be released must not keep the rest
                log.warning("could not end a lapsed duty: %s", type(exc).__name__)
        return ended

    async def end_duty(self, counsellor_id: str, reason: OffDutyReason,
                       seen_before: float | None = None) -> bool:
        """Take a counsellor off duty now: their chats go back to the front of the queue and
        their visitors hear that a colleague will take over; waiting returns reserved for
        them go to whoever is free. With ``seen_before``, only if no node has seen them
        since. True if they were on duty or held chats."""
        released = await self.state.release(counsellor_id, self.clock(), seen_before)
        if released is None:
            return False
        for chat in released.requeued:
            await self.out.to_counsellor(counsellor_id, ToCounsellor.UNASSIGNED,
                                         {"chat_id": chat.id})
        left = released.was_on_duty or bool(released.requeued)
        if left:
            await self.out.to_counsellor(counsellor_id, ToCounsellor.OFF_DUTY,
                                         {"reason": reason.value})
        if released.requeued:
            on_duty = len(await self.state.roster())
            per_place = await self._per_place(on_duty)
            for chat in released.requeued:
                # What the leaver had not shown was dropped: the receipt says so first.
                await self.out.to_chat(chat.id, ToVisitor.DELIVERED,
                                       receipt_payload(await self.state.receipt(chat.id, "v2c")))
                await self.out.to_chat(chat.id, ToVisitor.REQUEUED,
                                       self._place_info(chat.place, on_duty, per_place))
        if left:
            await self.broadcast_roster()
        if released.requeued or released.unreserved or left:
            # Every waiting visitor: places moved, or nobody may be on duty any more.
            await self.broadcast_queue()
        return left

    async def run_reaper(self) -> None:
        """Reap and renew presence forever; a background task in the app's cleanup context."""
        while True:
            await asyncio.sleep(self.config.reaper_interval_s)
            try:
                await self.reap()
            except Exception as exc:  # keep reaping after a transient Redis error
                log.error("reaper failed: %s", type(exc).__name__)
            try:
                await self.lapse_duty()
            except Exception as exc:
                log.error("presence pass failed: %s", type(exc).__name__)
