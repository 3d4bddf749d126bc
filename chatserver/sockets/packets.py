"""socket.io packets, hardened: malformed frames are dropped quietly, frames are JSON by orjson.

python-socketio decodes whatever a client sends and, on a malformed frame, lets the exception
escape into a logged traceback (or an unretrieved task error). Here a frame that is not a
well-formed event of ours is refused before any handler runs.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from socketio import packet as sio_packet

# Longest event name any client of ours sends ("transfer", "consent", ...), with room to spare.
MAX_EVENT_NAME = 32
# python-socketio dispatches a client *event* of these names to on_connect / on_disconnect with
# the client's arguments: a spoofed connect environ (REMOTE_ADDR) or a fake disconnect that
# resets per-connection limits. Only the transport may raise them.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})


class FastJson:
    """The ``json`` interface python-socketio calls, backed by orjson: faster on every frame.

    What orjson refuses (NaN, Infinity, integers beyond 64 bits) goes to the standard module,
    so such a frame still reaches its handler and gets its ``invalid`` answer instead of
    being dropped as malformed.
    """

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        try:
            return orjson.dumps(obj).decode()
        except TypeError:
            return json.dumps(obj, separators=(",", ":"))

    @staticmethod
    def loads(text: str | bytes) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return json.loads(text)


class StrictPacket(sio_packet.Packet):  # type: ignore[misc]
    """A socket.io packet that refuses binary attachments and anything but a plain JSON event.

    A malformed frame decodes to a DISCONNECT of its namespace: the dispatcher then has
    nothing to raise about, and the sender's namespace connection ends.
    """

    json = FastJson

    def decode(self, encoded_packet: Any) -> int:
        """Decode like the library, then check the shape; refuse instead of raising."""
        try:
            attachments = super().decode(encoded_packet)
        except (ValueError, TypeError, IndexError, RecursionError):
            return self._refuse()
        namespace: object = self.namespace
        if namespace is not None and not (isinstance(namespace, str)
                                          and namespace.startswith("/")):
            return self._refuse()
        if attachments or self.packet_type not in (
            sio_packet.CONNECT, sio_packet.DISCONNECT, sio_packet.EVENT, sio_packet.ACK,
        ):
            return self._refuse()
        if self.packet_type == sio_packet.EVENT and not _is_event(self.data):
            return self._refuse()
        if self.packet_type == sio_packet.ACK and not isinstance(self.data, list):
            return self._refuse()
        return 0

    def _refuse(self) -> int:
        namespace: object = getattr(self, "namespace", None)
        if not (isinstance(namespace, str) and namespace.startswith("/")):
            namespace = "/"
        self.packet_type = sio_packet.DISCONNECT
        self.namespace = namespace
        self.data = None
        self.id = None
        return 0


def _is_event(data: Any) -> bool:
    return (
        isinstance(data, list)
        and bool(data)
        and isinstance(data[0], str)
        and 0 < len(data[0]) <= MAX_EVENT_NAME
        and data[0] not in RESERVED_EVENTS
    )
