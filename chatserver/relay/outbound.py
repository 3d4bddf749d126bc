"""The relay's outbound port: what it tells visitors and counsellors, not how it travels.

The relay decides and calls this protocol; the socket layer implements it
(:class:`chatserver.sockets.outbound.SocketOutbound`) with namespaces and rooms. Event names
are defined here once, for both ends of the port.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol


class ToVisitor(StrEnum):
    """Events a visitor's widget receives."""

    MSG = "msg"
    DELIVERED = "delivered"
    QUEUE = "queue"
    ACCEPTED = "accepted"
    TRANSFERRED = "transferred"
    # The counsellor went off duty: the chat waits at the front of the queue for a colleague.
    REQUEUED = "requeued"
    ENDED = "ended"
    CODENAME = "codename"


class ToCounsellor(StrEnum):
    """Events a counsellor's console receives."""

    MSG = "msg"
    DELIVERED = "delivered"
    PRESENCE = "presence"
    CONSENT = "consent"
    QUEUE = "queue"
    ROSTER = "roster"
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    # The relay took this counsellor off duty (sign-out, or every console gone too long).
    OFF_DUTY = "off_duty"
    ENDED = "ended"
    # How many anonymous message threads await an answer (a count, nothing else).
    DROPS_WAITING = "drops_waiting"


class OffDutyReason(StrEnum):
    """Why the relay ended a counsellor's duty (the ``reason`` of ``off_duty``)."""

    SIGNED_OUT = "signed_out"
    AWAY = "away"


class Outbound(Protocol):
    """Where the relay's decisions go out, on every node."""

    async def to_chat(self, chat_id: str, event: ToVisitor, data: dict[str, Any]) -> None:
        """The visitor of ``chat_id``, on whichever node and socket they are."""

    async def to_visitor_socket(self, sid: str, event: ToVisitor, data: dict[str, Any]) -> None:
        """One visitor socket (a replay after reconnecting)."""

    async def to_counsellor(self, counsellor_id: str, event: ToCounsellor,
                            data: dict[str, Any]) -> None:
        """Every console connection of one counsellor."""

    async def to_counsellor_socket(self, sid: str, event: ToCounsellor,
                                   data: dict[str, Any]) -> None:
        """One console socket (a replay after reconnecting)."""

    async def to_counsellors(self, event: ToCounsellor, data: dict[str, Any]) -> None:
        """Every connected counsellor."""

    async def close_chat(self, chat_id: str) -> None:
        """Forget the chat's room: the visitor's sockets no longer hear of it."""
