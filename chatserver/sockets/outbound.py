"""The relay's outbound port on socket.io: namespaces, rooms and emits (through Redis if set)."""

from __future__ import annotations

from typing import Any

import socketio

from chatserver.relay.outbound import ToCounsellor, ToVisitor

VISITOR_NS = "/visitor"
COUNSELLOR_NS = "/counsellor"
# The room every counsellor socket joins (queue and roster updates).
ALL_COUNSELLORS = "all"


def visitor_room(chat_id: str) -> str:
    """The room of one chat's visitor sockets."""
    return "chat:" + chat_id


def counsellor_room(counsellor_id: str) -> str:
    """The room of one counsellor's console sockets."""
    return "c:" + counsellor_id


class SocketOutbound:
    """:class:`chatserver.relay.outbound.Outbound` on a python-socketio server."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def to_chat(self, chat_id: str, event: ToVisitor, data: dict[str, Any]) -> None:
        await self.sio.emit(event.value, data, room=visitor_room(chat_id), namespace=VISITOR_NS)

    async def to_visitor_socket(self, sid: str, event: ToVisitor, data: dict[str, Any]) -> None:
        await self.sio.emit(event.value, data, to=sid, namespace=VISITOR_NS)

    async def to_counsellor(self, counsellor_id: str, event: ToCounsellor,
                            data: dict[str, Any]) -> None:
        await self.sio.emit(event.value, data, room=counsellor_room(counsellor_id),
                            namespace=COUNSELLOR_NS)

    async def to_counsellor_socket(self, sid: str, event: ToCounsellor,
                                   data: dict[str, Any]) -> None:
        await self.sio.emit(event.value, data, to=sid, namespace=COUNSELLOR_NS)

    async def to_counsellors(self, event: ToCounsellor, data: dict[str, Any]) -> None:
        await self.sio.emit(event.value, data, room=ALL_COUNSELLORS, namespace=COUNSELLOR_NS)

    async def close_chat(self, chat_id: str) -> None:
        await self.sio.close_room(visitor_room(chat_id), namespace=VISITOR_NS)
