"""Fan-out between nodes: python-socketio's Redis manager, with deadlines; publishes sent once."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
import socketio
from redis.exceptions import RedisError

from chatserver.relay.state.redis import TIMEOUT_S, pool_options

# Redis connections one node may use at once to publish emits. python-socketio's own publisher,
# on a refused connection, reconnected and subscribed anew, which under load fed on itself
# (docs/benchmarks.md); room for bursts instead.
PUBLISH_CONNECTIONS = 512
# The subscription's reads are repeated after a lost connection (redis-py reconnects and
# subscribes again); only when that fails does the library start over, after a pause.
LISTEN_RETRIES = 5


class RedisFanout(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager with two changes: every call has a deadline, and a
    publish is sent once. The library repeats a failed publish on a new client; a repeat after
    a lost reply delivers the event twice. A publish that fails is dropped, as the library
    drops one that fails twice: an envelope stays buffered until acknowledged and reaches the
    receiver with its next ``sync``.

    Receiving stays the library's, on a connection without a read deadline (a quiet channel is
    no fault); TCP keepalive notices a Redis that vanished.
    """

    def __init__(self, url: str, channel: str = "socketio", timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(url, channel=channel,
                         redis_options=pool_options(timeout_s, retries=LISTEN_RETRIES))
        self.publisher = aioredis.Redis.from_url(
            url, max_connections=PUBLISH_CONNECTIONS, **pool_options(timeout_s, retries=0))

    async def _publish(self, data: Any) -> Any:
        try:
            return await self.publisher.publish(self.channel, self.json.dumps(data))
        except RedisError:
            self._get_logger().exception("Cannot publish to redis... giving up")
            return None

    async def close(self) -> None:
        """Close both clients (the listener task is the server's to cancel first)."""
        await self.publisher.aclose()
        if self.redis is not None:
            await self.redis.aclose()
