"""The ``/counsellor`` namespace: authenticated counsellors on and off duty.

A connection is accepted only with a token from :mod:`chatserver.relay.tokens` whose console
session is still good in the database (not ended by logout, disable or reset, not idle, not
older than its cap, the account enabled). Every open socket is checked against the database
again every ``SESSION_RECHECK_S`` and closed once its session is no longer good, so disabling or
resetting an account takes effect within a second even when its tokens could not be revoked in
the state; the token itself is re-checked in the state on events. A counsellor only ever
touches chats assigned to them; case records only with a grant of the records key, and only
their own records (an administrator: any) are deleted or restored (checked in
:mod:`chatserver.records.store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import msgspec
import socketio

from chatserver.config import Config
from chatserver.errors import DomainError, ErrorCode, forbidden, invalid, rate_limited
from chatserver.records.accounts import Users
from chatserver.records.handoff import Handoff
from chatserver.relay.outbound import OffDutyReason, ToCounsellor
from chatserver.relay.relay import Relay
from chatserver.relay.state import Envelope, Identity
from chatserver.sockets.edge import event
from chatserver.sockets.outbound import ALL_COUNSELLORS, COUNSELLOR_NS, counsellor_room
from chatserver.sockets.ratelimit import RateLimiter, TokenBucket
from chatserver.sockets.schemas import (
    BoxKey,
    ChatRef,
    CounsellorAck,
    CounsellorResync,
    CounsellorSend,
    DropAnswer,
    DropRef,
    Duty,
    Empty,
    EndChat,
    HandoffPayload,
    KeyringGrant,
    KeyringInit,
    KeyringQuery,
    KeyringRotate,
    RecordAppend,
    RecordNote,
    RecordOpen,
    RecordRef,
    RecoverySeal,
    Transfer,
    check_base64,
    check_ciphertext,
)
from chatserver.sockets.strikes import Strikes
from chatserver.vocabulary import COUNSELLOR_ROLES

log = logging.getLogger(__name__)

RECHECK_S = 5.0
# How often every open socket's console session is checked in the database: the bound on how
# long a disabled or reset account keeps a socket.
SESSION_RECHECK_S = 0.5
ENDED = "Your session has ended; please sign in again."


@dataclass
class CounsellorConnection:
    """What this node keeps about one console socket, in memory only, until it closes."""

    who: Identity
    token: str
    # When the token was last confirmed against the state (revocation is noticed within
    # RECHECK_S seconds).
    checked: float
    limits: TokenBucket
    strikes: Strikes


class CounsellorNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Socket events of counsellors; identity comes from the token, never from the payload."""

    def __init__(self, config: Config, relay: Relay, handoff: Handoff, users: Users) -> None:
        super().__init__(COUNSELLOR_NS)
        self.config = config
        self.relay = relay
        self.handoff = handoff
        self.users = users
        self._conns: dict[str, CounsellorConnection] = {}
        self._limits = RateLimiter(config.msg_rate_per_s * 4, config.msg_burst * 2)
        self._database_away = False
        self._topic_ids = frozenset(topic.id for topic in config.topic_list)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if self.config.console_origin and environ.get("HTTP_ORIGIN") != self.config.console_origin:
            # The console lives on its own origin: a counsellor socket from any other is refused.
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        token = auth.get("token") if isinstance(auth, dict) else None
        who = await self.relay.tokens.resolve(token)
        if who is None or who.role not in COUNSELLOR_ROLES or not who.session:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        try:
            live = await self.users.live_sessions([who.session], time.time())
        except Exception as exc:
            # Without the database nobody can say the account is still good: refused.
            log.warning("counsellor session check failed: %s", type(exc).__name__)
            raise socketio.exceptions.ConnectionRefusedError("unavailable") from None
        if who.session not in live or live[who.session].user_id != who.id:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        self._conns[sid] = CounsellorConnection(who, str(token), time.monotonic(),
                                                self._limits.bucket(),
                                                Strikes(self.config.strike_limit))
        await self.enter_room(sid, counsellor_room(who.id))
        await self.enter_room(sid, ALL_COUNSELLORS)
        await self.relay.console_opened(who)
        with contextlib.suppress(Exception):  # the count follows with the next change
            await self.emit(ToCounsellor.DROPS_WAITING.value,
                            {"count": await self.handoff.store.waiting_drops()}, to=sid)

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        conn = self._conns.pop(sid, None)
        if conn is not None:
            await self.relay.console_closed(conn.who)

    async def _end(self, sid: str) -> None:
        """Close a socket whose rights ended, telling the console why."""
        conn = self._conns.pop(sid, None)
        if conn is None:
            return  # it closed on its own meanwhile
        await self.relay.console_closed(conn.who)
        await self.emit("failed", forbidden(ENDED).as_payload(), to=sid, ignore_queue=True)
        await self.disconnect(sid)

    async def check_sessions(self) -> None:
        """Close every open socket whose console session is no longer good; note the others
        as in use, so an open console does not go idle."""
        conns = dict(self._conns)
        if not conns:
            return
        now = time.time()
        try:
            live = await self.users.live_sessions({c.who.session for c in conns.values()}, now)
        except Exception as exc:
            # Sockets checked at connect stay while the database is away (chats go on); the
            # token is still checked in the state. Said once per outage, not every round.
            if not self._database_away:
                log.warning("counsellor session check failed: %s", type(exc).__name__)
            self._database_away = True
            return
        self._database_away = False
        ended: set[str] = set()
        for sid, conn in conns.items():
            session = live.get(conn.who.session)
            if (session is None or session.user_id != conn.who.id) and sid in self._conns:
                await self._end(sid)
                ended.add(conn.who.id)
        for counsellor_id in ended:
            # Signed out for good (disabled, reset, or their last session over): like signing
            # out, that ends duty at once, and their visitors go to a colleague without
            # waiting out the grace meant for a reload.
            if not await self.users.signed_in(counsellor_id, now):
                await self.relay.end_duty(counsellor_id, OffDutyReason.SIGNED_OUT)
        await self.users.touch_sessions(live, now)

    async def watch_sessions(self) -> None:
        """:meth:`check_sessions` every ``SESSION_RECHECK_S``, until cancelled."""
        while True:
            await asyncio.sleep(SESSION_RECHECK_S)
            try:
                await self.check_sessions()
            except Exception as exc:  # e.g. touching sessions while the database is locked
                log.warning("counsellor session check failed: %s", type(exc).__name__)

    def struck(self, sid: str, code: ErrorCode) -> bool:
        """Count a refusal against the connection; True once it should be closed."""
        conn = self._conns.get(sid)
        return conn is not None and conn.strikes.hit(code)

    async def _who(self, sid: str, recheck: bool = False) -> Identity:
        """The connection's identity; its token is checked again every ``RECHECK_S`` seconds,
        and at once with ``recheck``."""
        conn = self._conns.get(sid)
        if conn is None:
            raise forbidden("Not signed in.")
        if recheck or time.monotonic() - conn.checked > RECHECK_S:
            if await self.relay.tokens.resolve(conn.token) is None:
                self._conns.pop(sid, None)
                await self.relay.console_closed(conn.who)
                await self.disconnect(sid)
                raise forbidden(ENDED)
            conn.checked = time.monotonic()
        if not conn.limits.allow():
            raise rate_limited()
        return conn.who

    @event(Empty)
    async def on_sync(self, sid: str, req: Empty) -> dict[str, Any]:
        who = await self._who(sid)
        # Replayed first: what expired unacknowledged then counts in the snapshot's receipts.
        await self.relay.replay_all(who, sid)
        snapshot = await self.relay.snapshot(who)
        return {"ok": True, **snapshot}

    @event(Duty)
    async def on_duty(self, sid: str, req: Duty) -> dict[str, Any]:
        # A console signed out a moment ago must not go on duty again with its old socket.
        who = await self._who(sid, recheck=req.on)
        if not req.on and await self.relay.has_chats(who.id):
            raise DomainError(ErrorCode.BAD_STATE,
                              "End or transfer your chats before going off duty.")
        await self.relay.set_duty(who, req.on)
        return {"ok": True, "on_duty": req.on}

    @event(ChatRef)
    async def on_accept(self, sid: str, req: ChatRef) -> dict[str, Any]:
        who = await self._who(sid)
        return {"ok": True, "chat": await self.relay.accept(who, req.chat_id)}

    @event(CounsellorSend)
    async def on_send(self, sid: str, req: CounsellorSend) -> dict[str, Any]:
        # The turn comes first: the session recheck in _who may wait on the state.
        async with self.relay.turn(req.chat_id, "c2v"):
            who = await self._who(sid)
            check_ciphertext(req.ct, self.config.max_envelope_bytes)
            fresh = await self.relay.counsellor_send(who, req.chat_id,
                                                     Envelope(req.seq, req.ct))
        return {"ok": True, "dup": not fresh}

    @event(CounsellorAck)
    async def on_ack(self, sid: str, req: CounsellorAck) -> dict[str, Any]:
        who = await self._who(sid)
        await self.relay.counsellor_ack(who, req.chat_id, req.upto, tuple(req.lost))
        return {"ok": True}

    @event(CounsellorResync)
    async def on_resync(self, sid: str, req: CounsellorResync) -> dict[str, Any]:
        """The console saw a gap in a chat: every buffered envelope after ``after`` again."""
        who = await self._who(sid)
        chat = await self.relay.own_chat(who, req.chat_id)
        acked = await self.relay.replay(chat, "v2c", sid, req.after)
        return {"ok": True, "acked": acked}

    @event(Transfer)
    async def on_transfer(self, sid: str, req: Transfer) -> dict[str, Any]:
        who = await self._who(sid)
        if req.note:
            check_ciphertext(req.note, 6000)
        await self.relay.transfer(who, req.chat_id, req.to, req.note)
        return {"ok": True}

    @event(EndChat)
    async def on_end(self, sid: str, req: EndChat) -> dict[str, Any]:
        who = await self._who(sid)
        # Before anything ends: a console with an outdated list hears so and ends again
        # without topics (console.js), so a bad choice never keeps a chat open.
        if not set(req.topics) <= self._topic_ids:
            raise invalid("Unknown topic; reload the console for the current list.")
        await self.relay.counsellor_end(who, req.chat_id, tuple(req.topics))
        return {"ok": True}

    @event(HandoffPayload)
    async def on_handoff(self, sid: str, req: HandoffPayload) -> dict[str, Any]:
        who = await self._who(sid)
        check_base64(req.body)
        if (req.reader_pk is None) != (req.reader_body is None):
            raise invalid("The visitor's copy needs both reader_pk and reader_body.")
        if req.reader_body is not None:
            check_base64(req.reader_body)
        record_id = await self.handoff.create_record(
            who, req.chat_id, req.consent_version, req.sealed_key, req.body, req.reader_pk,
            req.reader_body)
        return {"ok": True, "record_id": record_id}

    @event(Empty)
    async def on_records(self, sid: str, req: Empty) -> dict[str, Any]:
        who = await self._who(sid)
        return {"ok": True, "items": await self.handoff.list_records(who)}

    @event(Empty)
    async def on_records_count(self, sid: str, req: Empty) -> dict[str, Any]:
        who = await self._who(sid)
        return {"ok": True, "count": await self.handoff.count_records(who)}

    @event(Empty)
    async def on_records_deleted(self, sid: str, req: Empty) -> dict[str, Any]:
        who = await self._who(sid)
        return {"ok": True, "items": await self.handoff.list_deleted(who)}

    @event(RecordOpen)
    async def on_record_open(self, sid: str, req: RecordOpen) -> dict[str, Any]:
        who = await self._who(sid)
        return {"ok": True,
                "record": await self.handoff.open_record(who, req.record_id, req.export)}

    @event(RecordNote)
    async def on_record_note(self, sid: str, req: RecordNote) -> dict[str, Any]:
        who = await self._who(sid)
        check_base64(req.body)
        return {"ok": True, "note_id": await self.handoff.add_note(who, req.record_id, req.body)}

    @event(RecordAppend)
    async def on_record_append(self, sid: str, req: RecordAppend) -> dict[str, Any]:
        who = await self._who(sid)
        check_base64(req.body)
        if req.reader_body is not None:
            check_base64(req.reader_body)
        entry_id = await self.handoff.append(who, req.chat_id, req.body, req.reader_body)
        return {"ok": True, "entry_id": entry_id}

    @event(ChatRef)
    async def on_record_reader(self, sid: str, req: ChatRef) -> dict[str, Any]:
        """The visitor's reader key of the record this chat adds to ("" without one)."""
        who = await self._who(sid)
        return {"ok": True, "reader_pk": await self.handoff.reader_pk(who, req.chat_id)}

    @event(RecordRef)
    async def on_record_delete(self, sid: str, req: RecordRef) -> dict[str, Any]:
        who = await self._who(sid)
        return {"ok": True, "purge_at": await self.handoff.delete_record(who, req.record_id)}

    @event(RecordRef)
    async def on_record_restore(self, sid: str, req: RecordRef) -> dict[str, Any]:
        who = await self._who(sid)
        await self.handoff.restore_record(who, req.record_id)
        return {"ok": True}

    @event(Empty)
    async def on_drops(self, sid: str, req: Empty) -> dict[str, Any]:
        await self._who(sid)
        return {"ok": True, "items": await self.handoff.store.list_drops()}

    @event(DropRef)
    async def on_drop_open(self, sid: str, req: DropRef) -> dict[str, Any]:
        await self._who(sid)
        return {"ok": True, "drop": await self.handoff.open_drop(req.drop_id)}

    @event(DropAnswer)
    async def on_drop_answer(self, sid: str, req: DropAnswer) -> dict[str, Any]:
        who = await self._who(sid)
        check_base64(req.answer.sealed)
        if req.answer.team is not None:
            check_base64(req.answer.team)
        await self.handoff.answer_drop(who, req.drop_id, msgspec.to_builtins(req.answer))
        return {"ok": True}

    @event(KeyringQuery)
    async def on_keyring(self, sid: str, req: KeyringQuery) -> dict[str, Any]:
        who = await self._who(sid)
        return {"ok": True, **await self.handoff.store.keyring.status(who.id, req.box_pk)}

    @event(BoxKey)
    async def on_keyring_register(self, sid: str, req: BoxKey) -> dict[str, Any]:
        who = await self._who(sid)
        certificate = None if req.certificate is None else msgspec.to_builtins(req.certificate)
        await self.handoff.register_box_key(who, req.box_pk, req.box_sig, certificate)
        return {"ok": True}

    @event(KeyringInit)
    async def on_keyring_init(self, sid: str, req: KeyringInit) -> dict[str, Any]:
        who = await self._who(sid)
        await self.handoff.store.keyring.init(who.id, req.records_pk, req.sealed,
                                              self.relay.clock(), req.box_pk)
        return {"ok": True}

    @event(KeyringGrant)
    async def on_keyring_grant(self, sid: str, req: KeyringGrant) -> dict[str, Any]:
        who = await self._who(sid)
        await self.handoff.store.keyring.grant(who.id, req.user_id, req.sealed,
                                               self.relay.clock(), req.box_pk, req.epoch)
        return {"ok": True}

    @event(KeyringRotate)
    async def on_keyring_rotate(self, sid: str, req: KeyringRotate) -> dict[str, Any]:
        who = await self._who(sid)
        if req.recovery is not None and req.recovery.epoch != req.epoch:
            raise invalid("The recovery seal is for another epoch.")
        await self.handoff.store.keyring.rotate(
            who.id, req.epoch, req.records_pk, req.link,
            [(g.user_id, g.box_pk, g.sealed) for g in req.grants], self.relay.clock(),
            None if req.recovery is None else (req.recovery.recovery_pk, req.recovery.sealed))
        return {"ok": True}

    @event(RecoverySeal)
    async def on_keyring_recovery(self, sid: str, req: RecoverySeal) -> dict[str, Any]:
        who = await self._who(sid)
        await self.handoff.store.keyring.seal_to_recovery(who.id, req.epoch, req.recovery_pk,
                                                          req.sealed, self.relay.clock())
        return {"ok": True}
