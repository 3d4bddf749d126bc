"""The ``/visitor`` namespace: anonymous visitors. No account, nothing about them is kept.

The connect environ (address, user agent, headers) is never read or stored; one connection
holds at most one chat, found again after a reload only through the resume token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import socketio

from chatserver.config import Config
from chatserver.errors import DomainError, ErrorCode, rate_limited
from chatserver.records.handoff import Handoff
from chatserver.relay.relay import Relay
from chatserver.relay.state import Envelope
from chatserver.sockets.challenge import Answer, Challenges, ChallengeSlot
from chatserver.sockets.edge import event
from chatserver.sockets.outbound import VISITOR_NS, visitor_room
from chatserver.sockets.ratelimit import AddressKeys, RateLimiter, TokenBucket
from chatserver.sockets.schemas import (
    ChatRequest,
    CodenameOnly,
    Consent,
    Drop,
    DropCheck,
    DropStart,
    Empty,
    Resume,
    Return,
    VisitorAck,
    VisitorResync,
    VisitorSend,
    check_base64,
    check_ciphertext,
)
from chatserver.sockets.strikes import Strikes


@dataclass
class VisitorConnection:
    """Everything this node keeps about one visitor socket, in memory only, until it closes."""

    addr: str
    messages: TokenBucket
    requests: TokenBucket
    strikes: Strikes
    challenge: ChallengeSlot = field(default_factory=ChallengeSlot)
    chat_id: str | None = None
    # The language of a drop between drop_start and drop (the code is the widget's alone).
    drop_lang: str | None = None


class VisitorNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Socket events of visitors; every handler validates first, then asks the relay."""

    def __init__(self, config: Config, relay: Relay, handoff: Handoff) -> None:
        super().__init__(VISITOR_NS)
        self.config = config
        self.relay = relay
        self.handoff = handoff
        self._conns: dict[str, VisitorConnection] = {}
        self._messages = RateLimiter(config.msg_rate_per_s, config.msg_burst)
        self._requests = RateLimiter(config.chat_requests_per_min / 60.0, 3)
        # Per-address limits, keyed by a keyed hash of the address, in memory only.
        self._addresses = AddressKeys(config.trusted_proxies)
        self._addr_connects = RateLimiter(config.addr_connects_per_min / 60.0,
                                          max(5.0, config.addr_connects_per_min / 3))
        self._addr_requests = RateLimiter(config.addr_requests_per_min / 60.0,
                                          max(3.0, config.addr_requests_per_min / 3))
        self._addr_messages = RateLimiter(config.addr_msgs_per_s,
                                          max(10.0, config.addr_msgs_per_s * 3))
        self._connects_seen = 0
        self._challenges = Challenges(config.challenge_bits)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        addr = self._addresses.key_for(environ)
        self._connects_seen += 1
        if self._connects_seen % 1000 == 0:
            for limiter in (self._addr_connects, self._addr_requests, self._addr_messages):
                limiter.prune(600.0)
        if not self._addr_connects.allow(addr):
            raise socketio.exceptions.ConnectionRefusedError("rate_limited")
        self._conns[sid] = VisitorConnection(
            addr=addr, messages=self._messages.bucket(), requests=self._requests.bucket(),
            strikes=Strikes(self.config.strike_limit))
        return True

    def _conn(self, sid: str) -> VisitorConnection:
        conn = self._conns.get(sid)
        if conn is None:  # an event racing the disconnect of its own socket
            raise DomainError(ErrorCode.BAD_STATE, "This connection has closed.")
        return conn

    def struck(self, sid: str, code: ErrorCode) -> bool:
        """Count a refusal against the connection; True once it should be closed."""
        conn = self._conns.get(sid)
        return conn is not None and conn.strikes.hit(code)

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        conn = self._conns.pop(sid, None)
        if conn is None or conn.chat_id is None:
            return
        chat = await self.relay.get_chat(conn.chat_id)
        if chat is not None:
            await self.relay.visitor_present(chat, False)

    def _chat_id(self, sid: str) -> str:
        chat_id = self._conn(sid).chat_id
        if chat_id is None:
            raise DomainError(ErrorCode.BAD_STATE, "Start or resume a chat first.")
        return chat_id

    async def _attach(self, sid: str, chat_id: str) -> None:
        conn = self._conn(sid)
        if conn.chat_id not in (None, chat_id):
            raise DomainError(ErrorCode.BAD_STATE, "This connection already holds another chat.")
        conn.chat_id = chat_id
        await self.enter_room(sid, visitor_room(chat_id))

    def _allow_request(self, sid: str) -> bool:
        conn = self._conn(sid)
        return conn.requests.allow() and self._addr_requests.allow(conn.addr)

    def _allow_message(self, sid: str) -> bool:
        conn = self._conn(sid)
        return conn.messages.allow() and self._addr_messages.allow(conn.addr)

    @event(ChatRequest)
    async def on_request(self, sid: str, req: ChatRequest) -> dict[str, Any]:
        if self._conn(sid).chat_id is not None:
            raise DomainError(ErrorCode.BAD_STATE, "This connection already holds a chat.")
        if not self._allow_request(sid):
            raise rate_limited("Too many chat requests; please wait a moment.")
        self._challenges.spend(self._conn(sid).challenge)
        chat, resume, position = await self.relay.request_chat(req.entry, req.lang,
                                                                urgent=req.urgent)
        return await self._opened(sid, chat.id, resume, position)

    async def _opened(self, sid: str, chat_id: str, resume: str, position: int
                      ) -> dict[str, Any]:
        """Bind a freshly queued chat to this connection and answer with its place."""
        await self._attach(sid, chat_id)
        return {"ok": True, "chat_id": chat_id, "resume": resume,
                **await self.relay.place_info(position)}

    def _throttle(self, sid: str) -> None:
        if not self._allow_request(sid):
            raise rate_limited("Too many attempts; please wait a moment.")
        self._challenges.spend(self._conn(sid).challenge)

    @event(Answer)
    async def on_challenge(self, sid: str, req: Answer) -> dict[str, Any]:
        return self._challenges.answer(self._conn(sid).challenge, req)

    @event(Return)
    async def on_return(self, sid: str, req: Return) -> dict[str, Any]:
        if self._conn(sid).chat_id is not None:
            raise DomainError(ErrorCode.BAD_STATE, "This connection already holds a chat.")
        self._throttle(sid)
        chat, resume, position = await self.handoff.return_chat(req.codename, req.lang,
                                                                urgent=req.urgent)
        return await self._opened(sid, chat.id, resume, position)

    @event(CodenameOnly)
    async def on_withdraw(self, sid: str, req: CodenameOnly) -> dict[str, Any]:
        self._throttle(sid)
        await self.handoff.withdraw(req.codename)
        return {"ok": True}

    @event(CodenameOnly)
    async def on_record_read(self, sid: str, req: CodenameOnly) -> dict[str, Any]:
        """The visitor's own copy of their record (docs/protocol.md, "Continuity"): costs
        what a return costs, since the codename is hashed slowly."""
        self._throttle(sid)
        return {"ok": True, **await self.handoff.read_record(req.codename)}

    @event(DropStart)
    async def on_drop_start(self, sid: str, req: DropStart) -> dict[str, Any]:
        """Paid for like a chat request; the widget then makes the drop code itself."""
        self._throttle(sid)
        self._conn(sid).drop_lang = req.lang
        return {"ok": True}

    @event(Drop)
    async def on_drop(self, sid: str, req: Drop) -> dict[str, Any]:
        conn = self._conn(sid)
        lang, conn.drop_lang = conn.drop_lang, None
        if lang is None:
            raise DomainError(ErrorCode.BAD_STATE, "Start a message first (drop_start).")
        check_base64(req.body)
        await self.handoff.leave_drop(req.lookup, req.sealed_key, req.body, req.reply_pk, lang,
                                      req.round)
        return {"ok": True}

    @event(DropCheck)
    async def on_drop_check(self, sid: str, req: DropCheck) -> dict[str, Any]:
        self._throttle(sid)
        found = await self.handoff.store.read_drop(req.lookup)
        if found is None:
            raise DomainError(ErrorCode.NOT_FOUND,
                              "No message under this code (or it expired).")
        return {"ok": True, "answered": found["answered"], "answer": found["answer"],
                "rounds": found["rounds"]}

    @event(Resume)
    async def on_resume(self, sid: str, req: Resume) -> dict[str, Any]:
        if not self._allow_request(sid):
            raise rate_limited("Too many attempts; please wait a moment.")
        try:
            chat = await self.relay.chat_for_resume(req.token)
        except DomainError as exc:
            codename = (await self.relay.parked_codename(req.token)
                        if exc.code == ErrorCode.NOT_FOUND else "")
            if not codename:
                raise
            # The chat ended while its visitor was away, before they saw their codename.
            return {"ok": True, "status": "ended", "codename": codename}
        await self._attach(sid, chat.id)
        await self.relay.visitor_present(chat, True)
        position = await self.relay.position(chat.id) if chat.queued else 0
        await self.relay.replay(chat, "c2v", sid)
        place = (await self.relay.place_info(position) if position
                 else {"position": 0, "estimate_s": 0})
        return {
            "ok": True,
            "chat_id": chat.id,
            "status": "queued" if chat.queued else "active",
            **await self.relay.delivery(chat.id, "v2c"),
            "pseudonym": chat.pseudonym,
            **place,
        }

    @event(VisitorSend)
    async def on_send(self, sid: str, req: VisitorSend) -> dict[str, Any]:
        chat_id = self._chat_id(sid)
        if not self._allow_message(sid):
            raise rate_limited()
        check_ciphertext(req.ct, self.config.max_envelope_bytes)
        async with self.relay.turn(chat_id, "v2c"):
            fresh = await self.relay.visitor_send(chat_id, Envelope(req.seq, req.ct))
        return {"ok": True, "dup": not fresh}

    @event(VisitorAck)
    async def on_ack(self, sid: str, req: VisitorAck) -> dict[str, Any]:
        if not self._conn(sid).messages.allow(0.25):
            raise rate_limited()
        await self.relay.visitor_ack(self._chat_id(sid), req.upto, tuple(req.lost))
        return {"ok": True}

    @event(VisitorResync)
    async def on_resync(self, sid: str, req: VisitorResync) -> dict[str, Any]:
        """The widget saw a gap: every buffered envelope after ``after`` comes again."""
        if not self._allow_message(sid):
            raise rate_limited()
        chat = await self.relay.get_chat(self._chat_id(sid))
        if chat is None:
            raise DomainError(ErrorCode.NOT_FOUND, "This chat has ended.")
        acked = await self.relay.replay(chat, "c2v", sid, req.after)
        return {"ok": True, "acked": acked}

    @event(CodenameOnly)
    async def on_codename_ack(self, sid: str, req: CodenameOnly) -> dict[str, Any]:
        """The widget has shown the codename of a hand-off: it need not come again."""
        if not self._conn(sid).messages.allow(0.25):
            raise rate_limited()
        await self.relay.codename_seen(self._chat_id(sid), req.codename)
        return {"ok": True}

    @event(Empty)
    async def on_end(self, sid: str, req: Empty) -> dict[str, Any]:
        chat_id = self._chat_id(sid)
        self._conn(sid).chat_id = None
        await self.relay.end(chat_id, "visitor")
        return {"ok": True}

    @event(Consent)
    async def on_consent(self, sid: str, req: Consent) -> dict[str, Any]:
        await self.relay.visitor_consent(self._chat_id(sid), req.answer, req.version)
        return {"ok": True}
