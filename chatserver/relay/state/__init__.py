"""Relay state behind one small interface: queue, duty roster, counsellor presence, chats,
tokens, delivery buffers, the wait average.

Two implementations honour the same contract (``tests/relay/test_state_contract.py``):
:class:`~chatserver.relay.state.memory.MemoryState` for the embedded single-process default and
:class:`~chatserver.relay.state.redis.RedisState` for scale-out. Nothing here ever sees plaintext:
envelopes are opaque ciphertext strings, kept only until acknowledged or expired.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Direction = Literal["v2c", "c2v"]
AppendResult = Literal["ok", "dup"]
# How many lost sequence numbers a receipt remembers (and an acknowledgement may report).
MAX_LOST = 32
# The queue's order, the same in both implementations: chats waiting again after their
# counsellor left come first (the latest release in front), then urgent requests, then every
# other request, each group oldest first. In Redis the queue is a sorted set scored by request
# time; an urgent request and a release score this many seconds (about 300 years) earlier.
URGENT_LEAD_S = 1e10
# The messages of the refusals ``append_held`` and ``ack_held`` raise (both implementations).
QUEUED = "No counsellor has accepted this chat yet."
NOT_YOURS = "This chat is not assigned to you."


@dataclass(frozen=True)
class Identity:
    """Who a counsellor connection belongs to. ``id`` is an account id, never shown to visitors."""

    id: str
    pseudonym: str
    role: str
    # The console session a socket token was issued from (its stored key): the token is good
    # only while that session is (checked in the database by the socket edge). "" elsewhere.
    session: str = ""


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
    # Its place in the queue when it (last) joined it: a wait divided by this is the wait
    # per place that wait estimates come from.
    place: int = 0
    # The visitor said it is urgent: queued ahead of every request that is not (QUEUE_ORDER).
    urgent: bool = False

    @property
    def queued(self) -> bool:
        return not self.counsellor_id

    @property
    def requeued(self) -> bool:
        """Waiting again after its counsellor went off duty (accepted once before)."""
        return self.queued and bool(self.accepted_at)


@dataclass(frozen=True)
class DutyEntry:
    """An on-duty counsellor and how many chats they hold."""

    id: str
    pseudonym: str
    chats: int


@dataclass(frozen=True)
class Release:
    """What taking a counsellor off duty changed (``State.release``)."""

    was_on_duty: bool
    # Their chats, back at the front of the queue (as they are now), oldest request first.
    requeued: list[Chat] = field(default_factory=list)
    # Waiting returns that were reserved for them and now go to whoever is free.
    unreserved: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Envelope:
    """An opaque ciphertext with its per-sender sequence number."""

    seq: int
    ct: str


@dataclass(frozen=True)
class Receipt:
    """What the receiver of one direction has acknowledged: it showed every ``seq`` up to
    ``upto`` except those in ``lost`` (received but not readable, or dropped by a transfer).
    ``lost`` keeps the most recent :data:`MAX_LOST` such numbers, oldest first."""

    upto: int = 0
    lost: tuple[int, ...] = ()


def raise_receipt(receipt: Receipt, upto: int, last: int, lost: Iterable[int]) -> Receipt:
    """``receipt`` after an acknowledgement up to ``upto`` reporting ``lost``, when ``last``
    is the last accepted ``seq`` (the rule both implementations follow)."""
    upto = min(upto, last)
    if upto <= receipt.upto:
        return receipt
    fresh = sorted({seq for seq in lost if receipt.upto < seq <= upto})
    return Receipt(upto, (*receipt.lost, *fresh)[-MAX_LOST:])


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
        """Queue a new chat (an urgent one ahead of the others, see ``URGENT_LEAD_S``);
        returns its 1-based position. Raises ``queue_full``."""
        ...

    async def get_chat(self, chat_id: str) -> Chat | None: ...
    async def chat_by_resume(self, resume_key: str) -> str | None: ...
    async def queued(self) -> list[Chat]: ...

    async def claim(self, chat_id: str, who: Identity, max_chats: int, now: float) -> Chat:
        """Assign a queued chat. Raises ``not_found``, ``taken`` or ``limit``.

        ``accepted_at`` becomes ``now`` unless the chat was accepted before (requeued).
        """
        ...

    async def reassign(self, chat_id: str, frm: str, to: Identity, max_chats: int) -> Chat:
        """Move a chat from ``frm`` to ``to``. Raises ``not_found``, ``forbidden``, ``limit``.

        The visitor's unacknowledged envelopes were encrypted for ``frm`` and are dropped;
        the ``v2c`` receipt moves up to the last accepted ``seq`` with them as ``lost``."""
        ...

    async def end_chat(self, chat_id: str, keep_codename_s: float = 0.0) -> Chat | None:
        """Delete the chat and everything about it; returns it if this call removed it.

        A codename the visitor has not acknowledged yet is kept for ``keep_codename_s``
        seconds under the chat's resume key (``parked_codename``), and nothing else."""
        ...

    async def parked_codename(self, resume_key: str) -> str:
        """The codename kept after the end of the chat with ``resume_key``, or ""."""
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

    async def link_record(self, chat_id: str, record_id: str) -> None:
        """Link the chat to the case record filed from it, so that its later lines can be
        added to that record (nothing happens to a chat that has ended)."""
        ...

    # Duty roster.
    async def set_duty(self, who: Identity, on: bool) -> None: ...
    async def roster(self) -> list[DutyEntry]: ...

    # Counsellor presence, shared by every node: when each counsellor was last known to have a
    # console connection on some node.
    async def mark_seen(self, counsellor_ids: Sequence[str], now: float) -> None:
        """Each of ``counsellor_ids`` has a console connection at ``now``."""
        ...

    async def lapsed(self, now: float, grace: float) -> list[str]:
        """Counsellors on duty or holding chats whom no node has seen for ``grace`` seconds.

        One on duty without any presence (lost with a node, or from before presence was
        kept) is seen from ``now`` on; the presence of those not seen for ``grace`` seconds
        who hold nothing is forgotten.
        """
        ...

    async def release(self, counsellor_id: str, now: float,
                      seen_before: float | None) -> Release | None:
        """In one step: take the counsellor off duty, put their chats back at the front of
        the queue (no counsellor, no reservation, waiting since ``now``, the ciphertext for
        them dropped) and drop the reservations of waiting returns for them.

        With ``seen_before``, only if they were not seen since then (else None and nothing
        changes): a pass that found them lapsed must not release one who came back.
        """
        ...

    # Recent waits, as one exponentially weighted average of seconds per queue place.
    async def add_wait(self, per_place_s: float, weight: float) -> None:
        """Move the average towards ``per_place_s`` by ``weight`` (0 < weight <= 1)."""
        ...

    async def wait_average(self) -> float | None:
        """The average, or None before the first wait."""
        ...

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
    async def pending(self, chat_id: str, direction: Direction, now: float) -> list[Envelope]:
        """The buffered, unacknowledged envelopes of ``direction`` in ``seq`` order."""
        ...

    async def ack(self, chat_id: str, direction: Direction, upto: int,
                  lost: tuple[int, ...] = ()) -> Receipt:
        """The receiver showed everything up to ``upto`` but ``lost``: drop those envelopes
        from the buffer and raise the receipt. ``upto`` is capped at the last accepted
        ``seq``, a lower ``upto`` than before changes nothing, ``lost`` counts only inside
        the newly acknowledged range. Returns the receipt as it now stands."""
        ...

    async def ack_held(self, chat_id: str, direction: Direction, upto: int, holder: str,
                       lost: tuple[int, ...] = ()) -> tuple[str, Receipt]:
        """``ack`` with the checks of ``append_held``; returns the holder's id and receipt."""
        ...

    async def receipt(self, chat_id: str, direction: Direction) -> Receipt:
        """The receipt of ``direction`` (an empty one for an unknown chat)."""
        ...

    # The codename of a hand-off, kept until the visitor's widget acknowledges it.
    async def set_codename(self, chat_id: str, codename: str) -> None:
        """Keep ``codename`` for the chat's visitor (replacing an earlier one)."""
        ...

    async def get_codename(self, chat_id: str) -> str:
        """The codename still to be acknowledged, or ""."""
        ...

    async def clear_codename(self, chat_id: str, codename: str) -> None:
        """Forget the kept codename if it is ``codename`` (a later one stays)."""
        ...

    # Aggregate statistics counters, grouped by hour until rolled up into the database.
    async def incr_stats(self, hour: str, counts: dict[str, int]) -> None:
        """Add ``counts`` to the counters of ``hour`` (a sortable stamp like 2026112514)."""
        ...

    async def take_stats(self, before_hour: str) -> dict[str, dict[str, int]]:
        """Remove and return the counters of every hour sorting before ``before_hour``."""
        ...
