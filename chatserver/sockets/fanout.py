"""Fan-out between nodes: python-socketio's Redis manager, with deadlines; publishes sent once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import socketio
from redis.exceptions import RedisError

from chatserver.relay.state.redispool import TIMEOUT_S, Together, connect, pool_options

# The subscription's reads are repeated after a lost connection (redis-py reconnects and
# subscribes again); only when that fails does the listener start over, after a pause.
LISTEN_RETRIES = 5
# The listener's pauses between fresh starts: doubling from the first to the last. The library
# doubles up to a minute; while a node is not subscribed, every emit published meanwhile is
# lost to its sockets, and a failover takes seconds, so it keeps trying every second.
LISTEN_PAUSE_S = 0.1
LISTEN_PAUSE_MAX_S = 1.0
LISTEN_LOG_EVERY = 60


class RedisFanout(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager with deadlines on every call and a publish sent once:
    the library repeats a failed publish on a new client, and a repeat after a lost reply
    delivers the event twice. A publish that fails is dropped, as the library drops one that
    fails twice: an envelope stays buffered until acknowledged and reaches the receiver with
    its next ``sync``. Publishes made while one is on its way go together in one pipeline.

    Receiving stays the library's, on a connection without a read deadline (a quiet channel is
    no fault); TCP keepalive notices a Redis that vanished. Clients come from
    ``redispool.connect``, as the state's do, so a ``redis+sentinel://`` URL means the same
    here (the library reads such URLs differently, and makes a new client for every new
    subscription without closing the old). The listener keeps one client; after a lost
    subscription it closes it and subscribes again, pausing at most a second between tries.
    """

    # Set by the library (None until the listener or a publish connects).
    redis: Any
    pubsub: Any

    def __init__(self, url: str, channel: str = "socketio", timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(url, channel=channel,
                         redis_options=pool_options(timeout_s, retries=LISTEN_RETRIES))
        # Every emit is a publish: on a connection of their own, grouped under load.
        self._publishing = Together(url, **pool_options(timeout_s, retries=0))

    def _redis_connect(self) -> None:
        if self.redis is None:
            self.redis = connect(self.redis_url, **self.redis_options)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True

    async def _subscribe(self) -> None:
        if self.pubsub is not None:
            # Hands its broken connection back to the pool instead of leaving it in use.
            with contextlib.suppress(RedisError, OSError):
                await self.pubsub.aclose()
        self._redis_connect()
        await self.pubsub.subscribe(self.channel)

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        pause, failures = LISTEN_PAUSE_S, 0
        while True:
            try:
                await self._subscribe()
                pause, failures = LISTEN_PAUSE_S, 0
                async for message in self.pubsub.listen():
                    yield message
            except Exception:  # the listener must outlive any fault of Redis
                # The first failure of an outage, then about once a minute: not every second.
                if failures % LISTEN_LOG_EVERY == 0:
                    self._get_logger().exception("Cannot receive from redis... retrying")
                failures += 1
                await asyncio.sleep(pause)
                pause = min(pause * 2, LISTEN_PAUSE_MAX_S)

    async def _publish(self, data: Any) -> Any:
        try:
            return await self._publishing.call("PUBLISH", self.channel, self.json.dumps(data))
        except RedisError:
            self._get_logger().exception("Cannot publish to redis... giving up")
            return None

    async def close(self) -> None:
        """Close both clients (the listener task is the server's to cancel first)."""
        await self._publishing.close()
        if self.redis is not None:
            await self.redis.aclose()
