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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import socketio

from chatserver.config import Config
from chatserver.errors import DomainError, ErrorCode, forbidden, not_found
from chatserver.relay.state import (
    Chat,
    Direction,
    Envelope,
    Identity,
    State,
    secret_key,
)

log = logging.getLogger(__name__)

VISITOR_NS = "/visitor"
COUNSELLOR_NS = "/counsellor"
ALL_COUNSELLORS = "all"

# Observers get (event, fields) with aggregate-safe fields only: no ids, no content.
Listener = Callable[[str, dict[str, Any]], Awaitable[None]]
T = TypeVar("T")


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


def visitor_room(chat_id: str) -> str:
    return "chat:" + chat_id


def counsellor_room(counsellor_id: str) -> str:
    return "c:" + counsellor_id


class Relay:
    """Everything that happens to a chat, for both namespaces and every node."""

    def __init__(
        self,
        config: Config,
        state: State,
        sio: socketio.AsyncServer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state = state
        self.sio = sio
        self.clock = clock
        self._listeners: list[Listener] = []
        self._turns = Turns()

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

    async def _notify(self, name: str, **fields: Any) -> None:
        for listener in self._listeners:
            try:
                await listener(name, fields)
            except Exception as exc:  # a statistics hiccup must never break a chat
                log.error("listener failed on %s: %s", name, type(exc).__name__)

    # -- visitor side -----------------------------------------------------------------

    async def notify(self, name: str, **fields: Any) -> None:
        """Tell listeners of an event that happens outside the relay (hand-off, drops)."""
        await self._notify(name, **fields)

    async def request_chat(self, entry: str, lang: str, record_id: str = "",
                           preferred: str = "") -> tuple[Chat, str, int]:
        """Queue a new chat; returns it, its resume token and its queue position."""
        now = self.clock()
        chat = Chat(id=secrets.token_urlsafe(16), entry=entry, lang=lang, requested_at=now,
                    record_id=record_id, preferred=preferred)
        resume = secrets.token_urlsafe(24)
        try:
            position = await self.state.create_chat(chat, secret_key(resume), self.config.queue_cap)
        except Exception:
            await self._notify("refused", entry=entry, lang=lang)
            raise
        await self._notify("requested", entry=entry, lang=lang, at=now)
        # A new chat queues last: no one else's place moves, so only counsellors hear of it.
        await self.broadcast_queue(visitors=False)
        return chat, resume, position

    async def estimate(self, position: int) -> int:
        """A rough wait estimate in seconds for queue ``position``."""
        on_duty = max(1, len(await self.state.roster()))
        per = self.config.wait_estimate_per_position_s
        return math.ceil(position * per / on_duty)

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
            await self._to_counsellor(
                chat.counsellor_id, "presence", {"chat_id": chat.id, "present": present}
            )

    async def replay(self, chat: Chat, direction: Direction, to_sid: str) -> None:
        """Re-send every buffered envelope of ``direction`` to one reconnected socket."""
        now = self.clock()
        if direction == "c2v":
            for env in await self.state.pending(chat.id, direction, now):
                await self.sio.emit("msg", {"seq": env.seq, "ct": env.ct}, to=to_sid,
                                    namespace=VISITOR_NS)
        else:
            for env in await self.state.pending(chat.id, direction, now):
                await self.sio.emit("msg", {"chat_id": chat.id, "seq": env.seq, "ct": env.ct},
                                    to=to_sid, namespace=COUNSELLOR_NS)

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
            return False
        await self._notify("relayed", direction="v2c")
        await self._to_counsellor(counsellor_id, "msg",
                                  {"chat_id": chat_id, "seq": env.seq, "ct": env.ct})
        return True

    async def visitor_ack(self, chat_id: str, upto: int) -> None:
        counsellor_id = await self.state.ack_held(chat_id, "c2v", upto, "")
        await self._to_counsellor(counsellor_id, "delivered",
                                  {"chat_id": chat_id, "upto": upto})

    async def visitor_consent(self, chat_id: str, answer: str, version: str) -> None:
        """Remember the visitor's consent answer; without a yes no record can be created."""
        chat = await self._active(chat_id)
        await self.state.set_consent(chat.id, version if answer == "yes" else "")
        await self._to_counsellor(chat.counsellor_id, "consent",
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

    def chat_view(self, chat: Chat, next_seq: int = 0) -> dict[str, Any]:
        view: dict[str, Any] = {
            "chat_id": chat.id,
            "entry": chat.entry,
            "lang": chat.lang,
            "waiting_s": max(0, int(self.clock() - chat.requested_at)),
        }
        if chat.record_id:
            view["record_id"] = chat.record_id
            view["preferred"] = chat.preferred
        if next_seq:
            view["next_seq"] = next_seq
            view["visitor_present"] = not chat.visitor_left_at
        return view

    async def snapshot(self, who: Identity) -> dict[str, Any]:
        """What a (re)connecting counsellor needs to draw the console."""
        chats = []
        for chat_id in await self.state.chats_of(who.id):
            chat = await self.state.get_chat(chat_id)
            if chat is not None:
                chats.append(self.chat_view(chat, await self.state.next_seq(chat_id, "c2v")))
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
        await self.sio.emit("accepted", {"pseudonym": who.pseudonym},
                            room=visitor_room(chat.id), namespace=VISITOR_NS)
        await self._notify("accepted", entry=chat.entry, lang=chat.lang,
                           wait_s=now - chat.requested_at, at=now)
        await self.broadcast_queue()
        await self.broadcast_roster()
        return self.chat_view(chat, await self.state.next_seq(chat.id, "c2v"))

    async def counsellor_send(self, who: Identity, chat_id: str, env: Envelope) -> bool:
        result, _ = await self.state.append_held(
            chat_id, "c2v", env, self.clock(), self.config.envelope_ttl_s, who.id)
        if result == "dup":
            return False
        await self._notify("relayed", direction="c2v")
        await self.sio.emit("msg", {"seq": env.seq, "ct": env.ct},
                            room=visitor_room(chat_id), namespace=VISITOR_NS)
        return True

    async def counsellor_ack(self, who: Identity, chat_id: str, upto: int) -> None:
        await self.state.ack_held(chat_id, "v2c", upto, who.id)
        await self.sio.emit("delivered", {"upto": upto},
                            room=visitor_room(chat_id), namespace=VISITOR_NS)

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
        await self._to_counsellor(who.id, "unassigned", {"chat_id": chat.id})
        await self._to_counsellor(target.id, "assigned", {
            "chat": self.chat_view(chat, await self.state.next_seq(chat.id, "c2v")),
            "from": who.pseudonym,
            "note": note,
        })
        await self.sio.emit("transferred", {"pseudonym": target.pseudonym},
                            room=visitor_room(chat.id), namespace=VISITOR_NS)
        await self._notify("transferred", entry=chat.entry, lang=chat.lang)
        await self.broadcast_roster()

    async def counsellor_end(self, who: Identity, chat_id: str) -> None:
        await self._own(who, chat_id)
        await self.end(chat_id, "counsellor")

    # -- both -------------------------------------------------------------------------

    async def end(self, chat_id: str, reason: str) -> bool:
        """End a chat and delete everything about it at once; True if this call ended it."""
        chat = await self.state.end_chat(chat_id)
        if chat is None:
            return False
        now = self.clock()
        await self.sio.emit("ended", {"reason": reason}, room=visitor_room(chat.id),
                            namespace=VISITOR_NS)
        await self.sio.close_room(visitor_room(chat.id), namespace=VISITOR_NS)
        if chat.queued:
            await self._notify("abandoned", entry=chat.entry, lang=chat.lang,
                               wait_s=now - chat.requested_at, at=now)
            await self.broadcast_queue()
        else:
            await self._to_counsellor(chat.counsellor_id, "ended",
                                      {"chat_id": chat.id, "reason": reason})
            await self._notify("ended", entry=chat.entry, lang=chat.lang, reason=reason,
                               duration_s=now - chat.accepted_at, at=now)
            await self.broadcast_roster()
        return True

    async def _to_counsellor(self, counsellor_id: str, event: str, data: dict[str, Any]) -> None:
        await self.sio.emit(event, data, room=counsellor_room(counsellor_id),
                            namespace=COUNSELLOR_NS)

    async def broadcast_queue(self, visitors: bool = True) -> None:
        """The queue to every counsellor and, with ``visitors``, each waiting visitor's place."""
        queued = await self.state.queued()
        await self.sio.emit("queue", {"items": [self.chat_view(c) for c in queued]},
                            room=ALL_COUNSELLORS, namespace=COUNSELLOR_NS)
        if not queued or not visitors:
            return
        on_duty = max(1, len(await self.state.roster()))
        per = self.config.wait_estimate_per_position_s
        for position, chat in enumerate(queued, start=1):
            await self.sio.emit(
                "queue",
                {"position": position, "estimate_s": math.ceil(position * per / on_duty)},
                room=visitor_room(chat.id), namespace=VISITOR_NS,
            )

    async def broadcast_roster(self) -> None:
        roster = await self.state.roster()
        items = [{"id": d.id, "pseudonym": d.pseudonym, "chats": d.chats} for d in roster]
        await self.sio.emit("roster", {"items": items}, room=ALL_COUNSELLORS,
                            namespace=COUNSELLOR_NS)

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

    async def run_reaper(self) -> None:
        """Reap forever; runs as a background task in the app's cleanup context."""
        while True:
            await asyncio.sleep(self.config.reaper_interval_s)
            try:
                await self.reap()
            except Exception as exc:  # keep reaping after a transient Redis error
                log.error("reaper failed: %s", type(exc).__name__)
