"""In-memory state for the embedded single-process default. Lost on restart, by design."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from chatserver.errors import DomainError, ErrorCode
from chatserver.relay.state import (
    NOT_YOURS,
    QUEUED,
    AppendResult,
    Chat,
    Direction,
    DutyEntry,
    Envelope,
    Identity,
    Receipt,
    Release,
    raise_receipt,
)


@dataclass
class _ChatSlot:
    chat: Chat
    resume_key: str
    last_activity: float
    last_seq: dict[str, int] = field(default_factory=lambda: {"v2c": 0, "c2v": 0})
    buffers: dict[str, deque[tuple[Envelope, float]]] = field(
        default_factory=lambda: {"v2c": deque(), "c2v": deque()}
    )
    receipts: dict[str, Receipt] = field(
        default_factory=lambda: {"v2c": Receipt(), "c2v": Receipt()})
    codename: str = field(default="", repr=False)


def _drop_for_leaver(slot: _ChatSlot) -> None:
    """Ciphertext for a counsellor who let the chat go is useless to the next one: it is
    dropped, and the visitor's receipt moves past it with it as lost."""
    dropped = [env.seq for env, _ in slot.buffers["v2c"]]
    slot.buffers["v2c"].clear()
    slot.receipts["v2c"] = raise_receipt(slot.receipts["v2c"], slot.last_seq["v2c"],
                                         slot.last_seq["v2c"], dropped)


class MemoryState:
    """Dictionaries guarded by the event loop: no method awaits, so each one is atomic."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[Identity, float]] = {}
        self._chats: dict[str, _ChatSlot] = {}
        self._resume: dict[str, str] = {}
        self._queue: list[str] = []
        self._duty: dict[str, Identity] = {}
        self._seen: dict[str, float] = {}
        self._wait_average: float | None = None
        self._stats: dict[str, dict[str, int]] = {}
        self._parked: dict[str, tuple[str, float]] = {}

    async def close(self) -> None:
        self._chats.clear()
        self._resume.clear()
        self._queue.clear()
        self._tokens.clear()
        self._seen.clear()
        self._parked.clear()

    async def put_token(self, key: str, identity: Identity, ttl: float) -> None:
        self._tokens[key] = (identity, time.monotonic() + ttl)

    async def get_token(self, key: str) -> Identity | None:
        item = self._tokens.get(key)
        if item is None:
            return None
        if item[1] < time.monotonic():
            del self._tokens[key]
            return None
        return item[0]

    async def drop_token(self, key: str) -> None:
        self._tokens.pop(key, None)

    async def drop_tokens_of(self, counsellor_id: str) -> None:
        for key in [k for k, (ident, _) in self._tokens.items() if ident.id == counsellor_id]:
            del self._tokens[key]

    async def create_chat(self, chat: Chat, resume_key: str, cap: int) -> int:
        if len(self._queue) >= cap:
            raise DomainError(ErrorCode.QUEUE_FULL, "The queue is full.")
        at = len(self._queue)
        if chat.urgent:
            # Behind those waiting again and earlier urgent requests (URGENT_LEAD_S).
            at = next((i for i, cid in enumerate(self._queue)
                       if not (self._chats[cid].chat.urgent or self._chats[cid].chat.requeued)),
                      at)
        self._queue.insert(at, chat.id)
        chat = dataclasses.replace(chat, place=at + 1)
        self._chats[chat.id] = _ChatSlot(chat, resume_key, chat.requested_at)
        self._resume[resume_key] = chat.id
        return chat.place

    async def get_chat(self, chat_id: str) -> Chat | None:
        slot = self._chats.get(chat_id)
        return slot.chat if slot else None

    async def chat_by_resume(self, resume_key: str) -> str | None:
        return self._resume.get(resume_key)

    async def queued(self) -> list[Chat]:
        return [self._chats[cid].chat for cid in self._queue]

    def _count(self, counsellor_id: str) -> int:
        return sum(1 for s in self._chats.values() if s.chat.counsellor_id == counsellor_id)

    async def claim(self, chat_id: str, who: Identity, max_chats: int, now: float) -> Chat:
        slot = self._chats.get(chat_id)
        if slot is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such chat.")
        if not slot.chat.queued:
            raise DomainError(ErrorCode.TAKEN, "Another counsellor has taken this chat.")
        if self._count(who.id) >= max_chats:
            raise DomainError(ErrorCode.LIMIT, "You already hold the maximum number of chats.")
        self._queue.remove(chat_id)
        slot.chat = dataclasses.replace(
            slot.chat, counsellor_id=who.id, pseudonym=who.pseudonym,
            accepted_at=slot.chat.accepted_at or now,
        )
        slot.last_activity = now
        return slot.chat

    async def reassign(self, chat_id: str, frm: str, to: Identity, max_chats: int) -> Chat:
        slot = self._chats.get(chat_id)
        if slot is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such chat.")
        if slot.chat.counsellor_id != frm:
            raise DomainError(ErrorCode.FORBIDDEN, "This chat is not yours.")
        if self._count(to.id) >= max_chats:
            raise DomainError(ErrorCode.LIMIT,
                              "That colleague already holds the maximum number of chats.")
        slot.chat = dataclasses.replace(slot.chat, counsellor_id=to.id, pseudonym=to.pseudonym)
        _drop_for_leaver(slot)
        return slot.chat

    async def end_chat(self, chat_id: str, keep_codename_s: float = 0.0) -> Chat | None:
        slot = self._chats.pop(chat_id, None)
        if slot is None:
            return None
        self._resume.pop(slot.resume_key, None)
        now = time.monotonic()
        for key in [k for k, (_, until) in self._parked.items() if until < now]:
            del self._parked[key]
        if slot.codename and keep_codename_s > 0:
            self._parked[slot.resume_key] = (slot.codename, now + keep_codename_s)
        if chat_id in self._queue:
            self._queue.remove(chat_id)
        slot.buffers["v2c"].clear()
        slot.buffers["c2v"].clear()
        return slot.chat

    async def parked_codename(self, resume_key: str) -> str:
        item = self._parked.get(resume_key)
        return item[0] if item and item[1] >= time.monotonic() else ""

    async def chats_of(self, counsellor_id: str) -> list[str]:
        return [cid for cid, s in self._chats.items() if s.chat.counsellor_id == counsellor_id]

    async def set_visitor_present(self, chat_id: str, present: bool, now: float) -> None:
        slot = self._chats.get(chat_id)
        if slot is not None:
            slot.chat = dataclasses.replace(slot.chat, visitor_left_at=0.0 if present else now)

    async def abandoned(self, now: float, grace: float) -> list[str]:
        return [
            cid
            for cid, s in self._chats.items()
            if s.chat.visitor_left_at and now - s.chat.visitor_left_at > grace
        ]

    async def idle_expired(self, now: float, idle_ttl: float) -> list[str]:
        return [cid for cid, s in self._chats.items() if now - s.last_activity > idle_ttl]

    async def touch(self, chat_id: str, now: float) -> None:
        slot = self._chats.get(chat_id)
        if slot is not None:
            slot.last_activity = now

    async def set_consent(self, chat_id: str, version: str) -> None:
        slot = self._chats.get(chat_id)
        if slot is not None:
            slot.chat = dataclasses.replace(slot.chat, consent=version)

    async def link_record(self, chat_id: str, record_id: str) -> None:
        slot = self._chats.get(chat_id)
        if slot is not None:
            slot.chat = dataclasses.replace(slot.chat, record_id=record_id)

    async def set_duty(self, who: Identity, on: bool) -> None:
        if on:
            self._duty[who.id] = who
        else:
            self._duty.pop(who.id, None)

    async def roster(self) -> list[DutyEntry]:
        # One pass over the chats, not one per counsellor on duty.
        held = Counter(s.chat.counsellor_id for s in self._chats.values())
        return [DutyEntry(i.id, i.pseudonym, held[i.id]) for i in self._duty.values()]

    async def mark_seen(self, counsellor_ids: Sequence[str], now: float) -> None:
        for cid in counsellor_ids:
            self._seen[cid] = max(now, self._seen.get(cid, now))

    async def lapsed(self, now: float, grace: float) -> list[str]:
        cutoff = now - grace
        holders = {s.chat.counsellor_id for s in self._chats.values()} - {""}
        for cid in self._duty:
            self._seen.setdefault(cid, now)
        out = [cid for cid in self._duty if self._seen[cid] < cutoff]
        for cid in [c for c, at in self._seen.items() if at < cutoff and c not in self._duty]:
            if cid in holders:
                out.append(cid)
            else:
                del self._seen[cid]
        return out

    async def release(self, counsellor_id: str, now: float,
                      seen_before: float | None) -> Release | None:
        seen = self._seen.get(counsellor_id)
        if seen_before is not None and seen is not None and seen >= seen_before:
            return None
        was_on_duty = self._duty.pop(counsellor_id, None) is not None
        self._seen.pop(counsellor_id, None)
        held = sorted((s for s in self._chats.values() if s.chat.counsellor_id == counsellor_id),
                      key=lambda s: s.chat.requested_at)
        for place, slot in enumerate(held, start=1):
            slot.chat = dataclasses.replace(slot.chat, counsellor_id="", pseudonym="",
                                            preferred="", requested_at=now, place=place)
            _drop_for_leaver(slot)
            slot.last_activity = now
        self._queue[:0] = [slot.chat.id for slot in held]
        unreserved = []
        for cid in self._queue:
            slot = self._chats[cid]
            if slot.chat.preferred == counsellor_id:
                slot.chat = dataclasses.replace(slot.chat, preferred="")
                unreserved.append(cid)
        return Release(was_on_duty, [slot.chat for slot in held], unreserved)

    async def add_wait(self, per_place_s: float, weight: float) -> None:
        if self._wait_average is None:
            self._wait_average = per_place_s
        else:
            self._wait_average += weight * (per_place_s - self._wait_average)

    async def wait_average(self) -> float | None:
        return self._wait_average

    async def append(
        self, chat_id: str, direction: Direction, env: Envelope, now: float, ttl: float
    ) -> AppendResult:
        slot = self._chats.get(chat_id)
        if slot is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such chat.")
        last = slot.last_seq[direction]
        if env.seq <= last:
            return "dup"
        if env.seq != last + 1:
            raise DomainError(ErrorCode.BAD_SEQ, f"Expected sequence number {last + 1}.")
        slot.last_seq[direction] = env.seq
        buf = slot.buffers[direction]
        while buf and buf[0][1] < now:
            buf.popleft()
        buf.append((env, now + ttl))
        slot.last_activity = now
        return "ok"

    async def append_held(
        self, chat_id: str, direction: Direction, env: Envelope, now: float, ttl: float,
        holder: str,
    ) -> tuple[AppendResult, str]:
        held_by = self._held(chat_id, holder)
        return await self.append(chat_id, direction, env, now, ttl), held_by

    def _held(self, chat_id: str, holder: str) -> str:
        slot = self._chats.get(chat_id)
        if slot is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such chat.")
        held_by = slot.chat.counsellor_id
        if not held_by:
            raise DomainError(ErrorCode.BAD_STATE, QUEUED)
        if holder and held_by != holder:
            raise DomainError(ErrorCode.FORBIDDEN, NOT_YOURS)
        return held_by

    async def next_seq(self, chat_id: str, direction: Direction) -> int:
        slot = self._chats.get(chat_id)
        return slot.last_seq[direction] + 1 if slot else 1

    async def pending(self, chat_id: str, direction: Direction, now: float) -> list[Envelope]:
        slot = self._chats.get(chat_id)
        if slot is None:
            return []
        return [env for env, expires in slot.buffers[direction] if expires >= now]

    async def ack(self, chat_id: str, direction: Direction, upto: int,
                  lost: tuple[int, ...] = ()) -> Receipt:
        slot = self._chats.get(chat_id)
        if slot is None:
            return Receipt()
        receipt = slot.receipts[direction] = raise_receipt(
            slot.receipts[direction], upto, slot.last_seq[direction], lost)
        buf = slot.buffers[direction]
        while buf and buf[0][0].seq <= receipt.upto:
            buf.popleft()
        return receipt

    async def ack_held(self, chat_id: str, direction: Direction, upto: int, holder: str,
                       lost: tuple[int, ...] = ()) -> tuple[str, Receipt]:
        held_by = self._held(chat_id, holder)
        return held_by, await self.ack(chat_id, direction, upto, lost)

    async def receipt(self, chat_id: str, direction: Direction) -> Receipt:
        slot = self._chats.get(chat_id)
        return slot.receipts[direction] if slot else Receipt()

    async def set_codename(self, chat_id: str, codename: str) -> None:
        slot = self._chats.get(chat_id)
        if slot is not None:
            slot.codename = codename

    async def get_codename(self, chat_id: str) -> str:
        slot = self._chats.get(chat_id)
        return slot.codename if slot else ""

    async def clear_codename(self, chat_id: str, codename: str) -> None:
        slot = self._chats.get(chat_id)
        if slot is not None and slot.codename == codename:
            slot.codename = ""

    async def incr_stats(self, hour: str, counts: dict[str, int]) -> None:
        bucket = self._stats.setdefault(hour, {})
        for name, n in counts.items():
            bucket[name] = bucket.get(name, 0) + n

    async def take_stats(self, before_hour: str) -> dict[str, dict[str, int]]:
        hours = [h for h in self._stats if h < before_hour]
        return {h: self._stats.pop(h) for h in hours}
