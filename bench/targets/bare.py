"""Target B: the floor of our stack. A bare python-socketio ``AsyncServer`` on aiohttp.

It speaks the same frames as the chat server (``send`` with an acknowledgement, relayed as
``msg``; ``ack`` relayed as ``delivered``), but without validation, state, buffering, limits
or rooms per role: a pair joins one room and every event goes to the other member. Like P,
it declines WebSocket compression (python-socketio on aiohttp would otherwise accept
permessage-deflate); ``BENCH_DEFLATE=1`` keeps the library default, for comparison.

    python bench/targets/bare.py PORT [REDIS_URL]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import socketio
from aiohttp import hdrs, web


@web.middleware
async def no_deflate(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
    if hdrs.SEC_WEBSOCKET_EXTENSIONS in request.headers:
        headers = request.headers.copy()
        del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
        request = request.clone(headers=headers)
    return await handler(request)


class OrJson:
    """The ``json`` interface python-socketio calls, backed by orjson (``BENCH_FAST=1``)."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes) -> Any:
        return orjson.loads(text)


def make_app(redis_url: str = "") -> web.Application:
    # The same pool room for publishing as P gives the library (chatserver/main.py).
    manager = socketio.AsyncRedisManager(
        redis_url, redis_options={"max_connections": 512}) if redis_url else None
    fast = os.environ.get("BENCH_FAST") == "1"
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager,
                               cors_allowed_origins="*", logger=False, engineio_logger=False,
                               max_http_buffer_size=1 << 20,
                               **({"json": OrJson} if fast else {}))
    deflate = os.environ.get("BENCH_DEFLATE") == "1"
    app = web.Application(middlewares=[] if deflate else [no_deflate])
    sio.attach(app)

    async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.enter_room(sid, str(data["room"]))
        return {"ok": True}

    async def send(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.emit("msg", data, room=str(data["room"]), skip_sid=sid)
        return {"ok": True, "seq": data.get("seq")}

    async def ack(sid: str, data: dict[str, Any]) -> None:
        await sio.emit("delivered", data, room=str(data["room"]), skip_sid=sid)

    for handler in (join, send, ack):
        sio.on(handler.__name__, handler)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", healthz)
    return app


if __name__ == "__main__":
    loop = None
    if os.environ.get("BENCH_FAST") == "1":
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(make_app(sys.argv[2] if len(sys.argv) > 2 else ""), host="127.0.0.1",
                port=int(sys.argv[1]), access_log=None, print=None, loop=loop)
