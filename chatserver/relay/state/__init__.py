"""Relay state behind one small interface: queue, duty roster, chats, tokens, delivery buffers.

Two implementations honour the same contract (``tests/relay/test_state_contract.py``):
:class:`~chatserver.relay.state.memory.MemoryState` for the embedded single-process default and
:class:`~chatserver.relay.state.redis.RedisState` for scale-out. Nothing here ever sees plaintext:
envelopes are opaque ciphertext strings, kept only until acknowledged or expired.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, Protocol

Direction = Literal["v2c", "c2v"]
AppendResult = Literal["ok", "dup"]
# The messages of the refusals ``append_held`` and ``ack_held`` raise (both implementations).
QUEUED = "No counsellor has accepted this chat yet."
NOT_YOURS = "This chat is not assigned to you."


@dataclass(frozen=True)
class Identity:
    """Who a counsellor connection belongs to. ``id`` is an account id, never shown to visitors."""

    id: str
    pseudonym: str
    role: str


@dataclass(frozen=True)
class Chat:
    """One chat as the relay knows it: no content, no visitor identifier."""

    id: str
    entry: str
    lang: str
    requested_at: float
    counsellor_id: str = ""
    pseudonym: str = ""
    accepted_at: float = 0.0
    # 0 while a visitor connection is attached; otherwise when the last one went away.
    visitor_left_at: float = 0.0
    # Version of the consent text the visitor said yes to, "" without consent.
    consent: str = ""
    # A returning visitor's case record, and the counsellor it should go to first.
    record_id: str = ""
    preferred: str = ""

    @property
    def queued(self) -> bool:
        return not self.counsellor_id


@dataclass(frozen=True)
class DutyEntry:
    """An on-duty counsellor and how many chats they hold."""

    id: str
    pseudonym: str
    chats: int


@dataclass(frozen=True)
class Envelope:
    """An opaque ciphertext with its per-sender sequence number."""

    seq: int
    ct: str


def secret_key(token: str) -> str:
    """Key under which a bearer secret (resume or counsellor token) is stored: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


class State(Protocol):
    """The relay's whole mutable state. Every method is atomic with respect to the others."""

    async def close(self) -> None: ...

    # Counsellor connection tokens (issued by the console after login).
    async def put_token(self, key: str, identity: Identity, ttl: float) -> None: ...
    async def get_token(self, key: str) -> Identity | None: ...
    async def drop_token(self, key: str) -> None: ...
    async def drop_tokens_of(self, counsellor_id: str) -> None: ...

    # Chats and the queue.
    async def create_chat(self, chat: Chat, resume_key: str, cap: int) -> int:
        """Queue a new chat; returns its 1-based position. Raises ``queue_full``."""
        ...

    async def get_chat(self, chat_id: str) -> Chat | None: ...
    async def chat_by_resume(self, resume_key: str) -> str | None: ...
    async def queued(self) -> list[Chat]: ...

    async def claim(self, chat_id: str, who: Identity, max_chats: int, now: float) -> Chat:
        """Assign a queued chat. Raises ``not_found``, ``taken`` or ``limit``."""
        ...

    async def reassign(self, chat_id: str, frm: str, to: Identity, max_chats: int) -> Chat:
        """Move a chat from ``frm`` to ``to``. Raises ``not_found``, ``forbidden``, ``limit``."""
        ...

    async def end_chat(self, chat_id: str) -> Chat | None:
        """Delete the chat and everything about it; returns it if this call removed it."""
        ...

    async def chats_of(self, counsellor_id: str) -> list[str]: ...
    async def set_visitor_present(self, chat_id: str, present: bool, now: float) -> None: ...
    async def abandoned(self, now: float, grace: float) -> list[str]:
        """Chats whose visitor has been gone longer than ``grace`` seconds."""
        ...

    async def idle_expired(self, now: float, idle_ttl: float) -> list[str]:
        """Chats with no activity for ``idle_ttl`` seconds."""
        ...

    async def touch(self, chat_id: str, now: float) -> None: ...
    async def set_consent(self, chat_id: str, version: str) -> None:
        """Record the consent version the visitor agreed to ("" withdraws it)."""
        ...

    # Duty roster.
    async def set_duty(self, who: Identity, on: bool) -> None: ...
    async def roster(self) -> list[DutyEntry]: ...

    # Delivery buffers, one per direction.
    async def append(
        self, chat_id: str, direction: Direction, env: Envelope, now: float, ttl: float
    ) -> AppendResult:
        """Buffer ``env`` if its seq is the next one; ``dup`` if seen before. Raises ``bad_seq``."""
        ...

    async def append_held(
        self, chat_id: str, direction: Direction, env: Envelope, now: float, ttl: float,
        holder: str,
    ) -> tuple[AppendResult, str]:
        """``append`` to a chat a counsellor holds, checked in the same step: ``holder`` is
        that counsellor's id, or "" for whoever holds it. Returns the result and the holder's
        id. Raises ``not_found``, ``bad_state`` (still queued), ``forbidden`` (another's)."""
        ...

    async def next_seq(self, chat_id: str, direction: Direction) -> int: ...
    async def pending(self, chat_id: str, direction: Direction, now: float) -> list[Envelope]: ...
    async def ack(self, chat_id: str, direction: Direction, upto: int) -> None: ...
    async def ack_held(self, chat_id: str, direction: Direction, upto: int, holder: str) -> str:
        """``ack`` with the checks of ``append_held``; returns the holder's id."""
        ...

    # Aggregate statistics counters, grouped by hour until rolled up into the database.
    async def incr_stats(self, hour: str, counts: dict[str, int]) -> None:
        """Add ``counts`` to the counters of ``hour`` (a sortable stamp like 2026112514)."""
        ...

    async def take_stats(self, before_hour: str) -> dict[str, dict[str, int]]:
        """Remove and return the counters of every hour sorting before ``before_hour``."""
        ...
