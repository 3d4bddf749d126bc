"""The socket.io wire, hardened: malformed frames are dropped quietly, no client text is logged.

python-socketio decodes whatever a client sends and, on a malformed frame, lets the exception
escape into a logged traceback (or an unretrieved task error); its log lines interpolate
session ids, origins and event names the client chose; and engine.io answers JSONP polling,
which a foreign page can load as a script. This module closes those three doors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any, cast

import orjson
import socketio
from aiohttp import hdrs, web
from socketio import packet as sio_packet

from chatserver.appkeys import SIO
from chatserver.middlewares import Handler
from chatserver.state.resp import RespError, connect_url

# Longest event name any client of ours sends ("transfer", "consent", ...), with room to spare.
MAX_EVENT_NAME = 32

# Library messages about server-side faults (Redis, the pub/sub listener, the service task):
# fixed texts worth keeping. Everything else those libraries log is caused by a client.
SERVER_FAULTS = (
    "Cannot publish to redis",
    "Cannot receive from redis",
    "pubsub listen() exited",
    "Handler error in pubsub",
    "Unexpected Error in pubsub",
    "service task exception",
    "The WebSocket transport is not available",
)
CLIENT_NOTE_INTERVAL_S = 60.0
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


class FastRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager, publishing on a lean pipelined connection where the URL
    allows (chatserver/state/resp.py): every emit is one publish, so this is on the path of
    every envelope. Receiving stays the library's; so does publishing if the lean path fails.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.fast = connect_url(url)

    async def _publish(self, data: Any) -> Any:
        if self.fast is not None:
            try:
                return await self.fast.call("PUBLISH", self.channel, self.json.dumps(data))
            except (RespError, OSError):
                pass
        return await super()._publish(data)


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


class QuietLog:
    """Logger for python-socketio and python-engineio that never writes client-made text.

    Server-side faults keep their fixed text and the exception type; anything a client
    provoked becomes one fixed, rate-limited note. Never a traceback, never an argument.
    """

    def __init__(self, name: str = "chatserver.socketio") -> None:
        self._log = logging.getLogger(name)
        self._client_events = 0
        self._noted_at = -CLIENT_NOTE_INTERVAL_S

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Dropped: library debug lines carry session ids and payloads."""

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Dropped, like debug."""

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Library warnings are all about what a client did."""
        self._client()

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """A server fault keeps its fixed text; anything else is a client's doing."""
        self._emit(msg, None)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Like error, with only the type of the exception being handled."""
        exc = sys.exc_info()[1]
        self._emit(msg, type(exc).__name__ if exc is not None else None)

    def _emit(self, msg: object, exc_type: str | None) -> None:
        text = msg if isinstance(msg, str) else ""
        if text.startswith(SERVER_FAULTS):
            # The fixed prefix only: some of these texts end with library-formatted numbers.
            fault = next(p for p in SERVER_FAULTS if text.startswith(p))
            self._log.error("socket.io: %s (%s)", fault, exc_type or "no exception")
        else:
            self._client()

    def _client(self) -> None:
        self._client_events += 1
        now = time.monotonic()
        if now - self._noted_at >= CLIENT_NOTE_INTERVAL_S:
            self._log.warning("socket.io refused %d malformed or unexpected client requests",
                              self._client_events)
            self._client_events = 0
            self._noted_at = now


# A connection refused ``CHATSERVER_STRIKE_LIMIT`` times within the window is closed: a flood
# then costs the sender a reconnect, which is limited per address, instead of only an answer.
STRIKE_WINDOW_S = 10.0
# Our own faults are not the client's doing.
NOT_STRIKES = frozenset({"internal", "unavailable"})


class Strikes:
    """Refused events per connection, counted in fixed windows, in memory only."""

    def __init__(self, limit: int, window_s: float = STRIKE_WINDOW_S) -> None:
        self._limit = limit
        self._window = window_s
        self._count: dict[str, tuple[int, float]] = {}

    def hit(self, sid: str, code: str) -> bool:
        """Count one refusal with error ``code``; True once the connection should be closed."""
        if code in NOT_STRIKES:
            return False
        now = time.monotonic()
        count, since = self._count.get(sid, (0, now))
        if now - since > self._window:
            count, since = 0, now
        self._count[sid] = (count + 1, since)
        return count + 1 > self._limit

    def forget(self, sid: str) -> None:
        """The connection closed."""
        self._count.pop(sid, None)


# Engine.IO packet types a client may POST while long-polling: close, pong, message.
POLLING_PACKETS = frozenset("134")


class _Body:
    """The already read and checked request body, readable once more by engine.io."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, n: int = -1) -> bytes:
        data, self._data = self._data, b""
        return data


class _Checked:
    """The request as engine.io sees it, with ``content`` replaced by the checked body."""

    def __init__(self, request: web.Request, body: bytes) -> None:
        self._request = request
        self.content = _Body(body)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


@web.middleware
async def guard_engineio(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse JSONP polling and malformed polling bodies before engine.io sees them, and
    refuse WebSocket compression.

    JSONP turns socket.io into a script any page could include. A POSTed packet of a type the
    client may not send makes python-engineio disconnect the session and then wait, forever,
    for a poll that never comes: one hanging request per attempt.
    """
    if request.path.rstrip("/") != "/socket.io":
        return await handler(request)
    if "j" in request.query:
        raise web.HTTPBadRequest(text="JSONP polling is not supported.")
    if request.method == "POST":
        request = cast(web.Request, _Checked(request, await _polling_body(request)))
    elif hdrs.SEC_WEBSOCKET_EXTENSIONS in request.headers:
        # No permessage-deflate: ciphertext hardly compresses, and each compressed socket
        # costs a zlib context (about 100 KB) and CPU on every frame (docs/benchmarks.md).
        headers = request.headers.copy()
        del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
        request = request.clone(headers=headers)
    try:
        return await handler(request)
    except KeyError:
        # python-engineio raises KeyError for a session that closed a moment ago.
        raise web.HTTPBadRequest(text="Invalid session.") from None


async def _polling_body(request: web.Request) -> bytes:
    limit = int(request.app[SIO].eio.max_http_buffer_size)
    length = request.content_length
    if length is None or length > limit:
        # engine.io itself reads exactly Content-Length bytes, and only up to its frame limit.
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=length or 0)
    try:
        body = await request.content.readexactly(length)
    except asyncio.IncompleteReadError:
        raise web.HTTPBadRequest(text="Incomplete payload.") from None
    try:
        records = body.decode("utf-8").split("\x1e")
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(text="Malformed payload.") from None
    if not all(record[:1] in POLLING_PACKETS for record in records):
        raise web.HTTPBadRequest(text="Malformed payload.")
    return body
