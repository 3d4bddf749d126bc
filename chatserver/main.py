"""The application factory: the only place that assembles the chat server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import socketio
from aiohttp import web

from chatserver.appkeys import CONFIG, RELAY, SIO, STATE
from chatserver.config import Config
from chatserver.counsellor import CounsellorNamespace
from chatserver.middlewares import error_pages, security_headers
from chatserver.relay import Relay
from chatserver.routes import setup_routes
from chatserver.state import State
from chatserver.state.memory import MemoryState
from chatserver.state.redis import RedisState
from chatserver.visitor import VisitorNamespace

log = logging.getLogger(__name__)

# socket.io frames hold one envelope plus a little JSON around it.
FRAME_OVERHEAD = 4096


def make_sio(config: Config) -> socketio.AsyncServer:
    """The socket.io server: silent, cookie-free, and only for our own origins."""
    manager = socketio.AsyncRedisManager(config.redis_url) if config.uses_redis else None
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=list(config.public_origins),
        cookie=None,
        logger=False,
        engineio_logger=False,
        max_http_buffer_size=(config.max_envelope_bytes + 2) // 3 * 4 + FRAME_OVERHEAD,
        http_compression=False,
        compression_threshold=1 << 30,
    )


async def open_state(config: Config) -> State:
    """Open the configured state backend, failing loudly if Redis does not answer."""
    if not config.uses_redis:
        return MemoryState()
    state = RedisState(config.redis_url)
    try:
        await state.ping()
    except Exception:
        await state.close()
        raise RuntimeError("CHATSERVER_REDIS_URL: Redis does not answer") from None
    return state


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    """State, relay, namespaces and the reaper: opened together, closed together."""
    config, sio = app[CONFIG], app[SIO]
    state = await open_state(config)
    relay = Relay(config, state, sio)
    app[STATE] = state
    app[RELAY] = relay
    sio.register_namespace(VisitorNamespace(config, relay))
    sio.register_namespace(CounsellorNamespace(config, relay))
    reaper = asyncio.create_task(relay.run_reaper())
    yield
    reaper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reaper
    # Disconnecting every client lets them reconnect to another node and resume there.
    await sio.shutdown()
    manager = sio.manager
    listener = getattr(manager, "thread", None)
    if listener is not None:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
    redis = getattr(manager, "redis", None)
    if redis is not None:
        await redis.aclose()
    await state.close()


def create_app(config: Config) -> web.Application:
    """Build the chat server for ``config``."""
    app = web.Application(middlewares=[error_pages], client_max_size=64 * 1024)
    app[CONFIG] = config
    sio = make_sio(config)
    app[SIO] = sio
    sio.attach(app)
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.append(relay_ctx)
    setup_routes(app)
    return app
