"""Fan-out between nodes: python-socketio's Redis manager, with deadlines; publishes sent once."""

from __future__ import annotations

from typing import Any

import socketio
from redis.exceptions import RedisError

from chatserver.relay.state.redispool import TIMEOUT_S, Together, pool_options

# The subscription's reads are repeated after a lost connection (redis-py reconnects and
# subscribes again); only when that fails does the library start over, after a pause.
LISTEN_RETRIES = 5


class RedisFanout(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager with deadlines on every call and a publish sent once:
    the library repeats a failed publish on a new client, and a repeat after a lost reply
    delivers the event twice. A publish that fails is dropped, as the library drops one that
    fails twice: an envelope stays buffered until acknowledged and reaches the receiver with
    its next ``sync``. Publishes made while one is on its way go together in one pipeline.

    Receiving stays the library's, on a connection without a read deadline (a quiet channel is
    no fault); TCP keepalive notices a Redis that vanished.
    """

    def __init__(self, url: str, channel: str = "socketio", timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(url, channel=channel,
                         redis_options=pool_options(timeout_s, retries=LISTEN_RETRIES))
        # Every emit is a publish: on a connection of their own, grouped under load.
        self._publishing = Together(url, **pool_options(timeout_s, retries=0))

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
