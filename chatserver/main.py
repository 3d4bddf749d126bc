"""The application factory: the only place that assembles the chat server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from zoneinfo import ZoneInfo

import socketio
from aiohttp import web
from aiohttp.typedefs import Middleware

from chatserver.admin import demo
from chatserver.config import Config
from chatserver.records.accounts import Users
from chatserver.records.codenames import CodenameHasher
from chatserver.records.db import migrate, open_engine
from chatserver.records.handoff import Handoff
from chatserver.records.kdf import KDF_COSTS
from chatserver.records.passkeys import RelyingParty
from chatserver.records.store import RecordStore, codename_salt
from chatserver.relay.relay import Relay
from chatserver.relay.state import State
from chatserver.relay.state.memory import MemoryState
from chatserver.relay.state.redis import RedisState
from chatserver.sockets.counsellor import CounsellorNamespace
from chatserver.sockets.fanout import RedisFanout
from chatserver.sockets.guard import engineio_guard
from chatserver.sockets.outbound import COUNSELLOR_NS, VISITOR_NS, SocketOutbound
from chatserver.sockets.packets import StrictPacket
from chatserver.sockets.quietlog import QuietLog
from chatserver.sockets.visitor import VisitorNamespace
from chatserver.stats.counters import Recorder, StatsStore, rollup, rollup_forever
from chatserver.web.appkeys import (
    CLOCK,
    CONFIG,
    ENGINE,
    RECORDS,
    RELAY,
    SIO,
    STATS,
    USERS,
    WAITING,
)
from chatserver.web.metrics import setup_metrics
from chatserver.web.middlewares import console_only_on, error_pages, security_headers
from chatserver.web.routes import setup_routes
from counsellor_console import create_console_app, to_console
from widget import create_widget_app, demo_handler

log = logging.getLogger(__name__)

# socket.io frames hold one envelope plus a little JSON around it.
FRAME_OVERHEAD = 4096
# Case records travel over the counsellor socket; they are the largest frames we accept.
MAX_FRAME = 1024 * 1024


def _frame_limit(config: Config) -> int:
    """The largest socket.io frame accepted: a case record, or one envelope in base64."""
    return max(MAX_FRAME, (config.max_envelope_bytes + 2) // 3 * 4 + FRAME_OVERHEAD)


def make_sio(config: Config) -> socketio.AsyncServer:
    """The socket.io server: silent, cookie-free, and only for our own origins."""
    manager = RedisFanout(config.redis_url) if config.uses_redis else None
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=list(config.public_origins),
        cookie=None,
        # Malformed frames are dropped quietly and no client-made text reaches a log.
        serializer=StrictPacket,
        logger=QuietLog(),
        engineio_logger=QuietLog(),
        max_http_buffer_size=_frame_limit(config),
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


async def _bounded(label: str, step: Awaitable[object], limit: float = 5.0) -> None:
    """Run one shutdown step, but never let it hold the process hostage."""
    try:
        await asyncio.wait_for(step, limit)
    except (asyncio.CancelledError, TimeoutError, Exception) as exc:
        log.warning("shutdown step %s ended with %s", label, type(exc).__name__)


async def records_ctx(app: web.Application) -> AsyncIterator[None]:
    """The database engine and the record store, plus the hourly purge: records past their
    retention or deleted longer than the recovery window ago, and expired drops."""
    config = app[CONFIG]
    engine = open_engine(config)
    await migrate(engine)
    app[ENGINE] = engine
    ops, mem = KDF_COSTS[config.kdf_cost]
    hasher = CodenameHasher(await codename_salt(engine), opslimit=ops, memlimit=mem)
    store = RecordStore(engine, hasher, config.record_retention_days * 86400,
                        config.drop_ttl_days * 86400, config.record_recovery_days * 86400,
                        certify_records=functools.partial(demo.certify_records, config)
                        if config.demo else None)
    app[RECORDS] = store
    app[USERS] = Users(engine, ops, mem, relying_party=RelyingParty(
        config.passkey_rp_id, config.passkey_origins), require_passkey=config.require_passkey)
    if config.demo:
        if await demo.recertify_records_key(config, store.keyring):
            print("DEMO records key: certified with the demo organisation key", flush=True)
        name, password, uri = await demo.seed_demo_user(config, app[USERS])
        # Demo mode only, and said so: these accounts exist for trying the console out.
        print(f"DEMO counsellor: {name} / password {password}\n  TOTP: {uri}", flush=True)
        name, password, uri = await demo.seed_demo_user(config, app[USERS], "demo-leitung",
                                                        "supervisor", "Frau Sommer")
        print(f"DEMO supervisor (statistics): {name} / password {password}\n  TOTP: {uri}",
              flush=True)
        if not await store.keyring.records_public_key():
            # The team's records key is made in a console, never here (docs/protocol.md).
            print("DEMO anonymous messages: possible once the demo counsellor has signed in to "
                  "the console (that makes the team's records key)", flush=True)
    purger = asyncio.create_task(_purge_forever(app, store))
    yield
    purger.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await purger
    await engine.dispose()


PURGE_EVERY_S = 3600.0
PURGE_RETRY_S = 60.0


async def _purge_forever(app: web.Application, store: RecordStore) -> None:
    while True:
        try:
            if await store.purge(time.time()) and WAITING in app:
                # An expired thread may have awaited an answer: the consoles' count follows.
                await app[WAITING]()
        except Exception as exc:  # the database may be briefly away or busy: soon again
            log.warning("record purge failed: %s; trying again in %.0f s",
                        type(exc).__name__, PURGE_RETRY_S)
            await asyncio.sleep(PURGE_RETRY_S)
            continue
        await asyncio.sleep(PURGE_EVERY_S)


async def drain(sio: socketio.AsyncServer) -> None:
    """Disconnect every client connected to this node, so each reconnects elsewhere."""
    for namespace in (VISITOR_NS, COUNSELLOR_NS):
        sids = [sid for sid, _ in sio.manager.get_participants(namespace, None)]
        for sid in sids:
            with contextlib.suppress(Exception):
                await sio.disconnect(sid, namespace=namespace, ignore_queue=True)


async def drain_on_shutdown(app: web.Application) -> None:
    """Close every transport first thing on shutdown, before aiohttp waits for open handlers.

    A closed transport makes socket.io clients reconnect (to another node) and resume at
    once; a socket.io-level disconnect would tell a browser client not to reconnect at all.
    """
    eio = app[SIO].eio
    for socket in list(eio.sockets.values()):
        # Without waiting: a polling client that never polls again would hold us forever.
        # abort: no engine.io CLOSE packet, which socket.io-client ignores on a WebSocket (so
        # the socket stayed open until aiohttp gave up) and python clients take as "do not
        # reconnect". The None wakes the writer, which then closes the WebSocket at once.
        await _bounded("transport", socket.close(wait=False, abort=True), limit=1.0)
        socket.queue.put_nowait(None)


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    """State, relay, namespaces, the reaper and the session watch: opened together, closed
    together."""
    config, sio = app[CONFIG], app[SIO]
    state = await open_state(config)
    relay = Relay(config, state, SocketOutbound(sio), clock=app[CLOCK])
    app[RELAY] = relay
    setup_metrics(app, relay)
    handoff = Handoff(config, relay, app[RECORDS])
    app[WAITING] = handoff.announce_waiting
    sio.register_namespace(VisitorNamespace(config, relay, handoff))
    counsellors = CounsellorNamespace(config, relay, handoff, app[USERS])
    sio.register_namespace(counsellors)
    reaper = asyncio.create_task(relay.run_reaper())
    # Closes the sockets of accounts disabled or reset (and of ended sessions) within a second.
    watcher = asyncio.create_task(counsellors.watch_sessions())
    yield
    for task in (reaper, watcher):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # Disconnecting every client lets them reconnect to another node and resume there.
    await _bounded("drain", drain(sio), limit=10.0)
    await _bounded("socket.io", sio.shutdown())
    manager = sio.manager
    listener = getattr(manager, "thread", None)
    if listener is not None:
        listener.cancel()
        await _bounded("pubsub listener", asyncio.wait([listener]))
    if isinstance(manager, RedisFanout):
        await _bounded("pub/sub connections", manager.close())
    await _bounded("state", state.close())


async def stats_ctx(app: web.Application) -> AsyncIterator[None]:
    """Statistics: counters fed by the relay, rolled up into the database every few minutes."""
    config, relay, clock = app[CONFIG], app[RELAY], app[CLOCK]
    store = StatsStore(app[ENGINE], ZoneInfo(config.stats_timezone))
    app[STATS] = store
    if config.demo and await demo.seed_statistics(store, clock()):
        print("DEMO statistics: twelve weeks of made-up counts", flush=True)
    relay.subscribe(Recorder(relay, clock).on_event)
    roller = asyncio.create_task(
        rollup_forever(relay, store, clock, config.stats_rollup_interval_s))
    yield
    roller.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await roller
    # The open hour too: the embedded state dies with this process, Redis adds up anyway.
    await _bounded("statistics", rollup(relay, store, clock() + 3600))


def create_app(config: Config) -> web.Application:
    """Build the chat server for ``config``."""
    middlewares: list[Middleware] = [error_pages, engineio_guard(_frame_limit(config))]
    if config.console_host:
        middlewares.insert(1, console_only_on(config.console_host))
    app = web.Application(middlewares=middlewares, client_max_size=64 * 1024)
    app[CONFIG] = config
    app[CLOCK] = time.time
    sio = make_sio(config)
    app[SIO] = sio
    sio.attach(app)
    app.on_response_prepare.append(security_headers)
    app.on_shutdown.append(drain_on_shutdown)
    app.cleanup_ctx.append(records_ctx)
    app.cleanup_ctx.append(relay_ctx)
    app.cleanup_ctx.append(stats_ctx)
    setup_routes(app)
    app.add_subapp("/widget/", create_widget_app(config))
    app.router.add_get("/demo", demo_handler(config))
    # Before the sub-application, which would otherwise claim /console and answer 404.
    app.router.add_get("/console", to_console)
    app.add_subapp("/console/", create_console_app(config))
    return app
