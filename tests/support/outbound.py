"""An outbound port that records what the relay says, for relay tests without sockets."""

from __future__ import annotations

from typing import Any

from chatserver.relay.outbound import ToCounsellor, ToVisitor


class RecordingOutbound:
    """:class:`chatserver.relay.outbound.Outbound` that keeps every emit as (to, event, data)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def to_chat(self, chat_id: str, event: ToVisitor, data: dict[str, Any]) -> None:
        self.sent.append(("chat:" + chat_id, event.value, data))

    async def to_visitor_socket(self, sid: str, event: ToVisitor, data: dict[str, Any]) -> None:
        self.sent.append(("sid:" + sid, event.value, data))

    async def to_counsellor(self, counsellor_id: str, event: ToCounsellor,
                            data: dict[str, Any]) -> None:
        self.sent.append(("c:" + counsellor_id, event.value, data))

    async def to_counsellor_socket(self, sid: str, event: ToCounsellor,
                                   data: dict[str, Any]) -> None:
        self.sent.append(("sid:" + sid, event.value, data))

    async def to_counsellors(self, event: ToCounsellor, data: dict[str, Any]) -> None:
        self.sent.append(("all", event.value, data))

    async def close_chat(self, chat_id: str) -> None:
        self.sent.append(("chat:" + chat_id, "closed", {}))

    def to(self, who: str, event: str) -> list[dict[str, Any]]:
        """What ``who`` (``chat:<id>``, ``c:<id>``, ``all``) got of ``event``, in order."""
        return [data for to, name, data in self.sent if to == who and name == event]

    def clear(self) -> None:
        self.sent.clear()
