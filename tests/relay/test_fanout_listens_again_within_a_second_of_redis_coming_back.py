"""A node's fan-out listener subscribes again about a second after Redis is back, however long
Redis was away. Every emit published while a node is not subscribed is lost to its sockets, so
the listener does not back off for long: its pauses double from 0.1 s to at most 1 s. python-
socketio's own listener doubled its pause up to a minute: after six seconds of outage it came
back three seconds late, after half a minute up to sixteen. The same listener follows a
Sentinel failover (``test_redis_primary_killed_mid_chat_sentinel_fails_over_…``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import redis
import socketio

from chatserver.sockets.fanout import LISTEN_PAUSE_MAX_S, RedisFanout
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually

# Long enough for the library's pauses to have grown to 4 s (redis-py's own repeats inside each
# of its tries bridged shorter outages).
OUTAGE_S = 6.0


def subscribers(port: int) -> int:
    client = redis.Redis(port=port)
    try:
        return int(dict(client.pubsub_numsub("socketio"))[b"socketio"])
    finally:
        client.close()


async def test_the_listener_is_back_within_a_second_of_redis() -> None:
    server = RedisServer()
    server.start()
    fanout = RedisFanout(server.url)
    socketio.AsyncServer(async_mode="aiohttp", client_manager=fanout)
    fanout.initialize()
    loop = asyncio.get_running_loop()
    try:
        await eventually(lambda: asyncio.to_thread(subscribers, server.port),
                         until=lambda count: count == 1, what="the listener to subscribe")
        server.stop(signal.SIGKILL)
        await asyncio.sleep(OUTAGE_S)  # the outage itself, not a wait for a condition
        await asyncio.to_thread(server.start)
        back = loop.time()
        await eventually(lambda: asyncio.to_thread(subscribers, server.port),
                         until=lambda count: count == 1, what="the listener to subscribe again")
        # At most one pause, plus a connection and a subscription on a loaded machine.
        assert loop.time() - back < LISTEN_PAUSE_MAX_S + 1.0
    finally:
        fanout.thread.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await fanout.thread
        await fanout.close()
        server.cleanup()
