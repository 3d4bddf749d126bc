"""The engine.io HTTP door, guarded: no JSONP, no malformed polling bodies, no compression.

engine.io answers JSONP polling, which a foreign page can load as a script; a malformed POSTed
packet makes it hang one request per attempt. Both are refused here, in aiohttp middleware.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

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


def engineio_guard(limit: int) -> Middleware:
    """The guard below for frames of at most ``limit`` bytes."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await guard_engineio(request, handler, limit)

    return guard


async def guard_engineio(request: web.Request, handler: Handler, limit: int) -> web.StreamResponse:
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
        request = cast(web.Request, _Checked(request, await _polling_body(request, limit)))
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


async def _polling_body(request: web.Request, limit: int) -> bytes:
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
