"""How this project uses redis-py: clients of one Redis or of the primary that Redis Sentinel
names, pool options (deadlines, health checks, which calls repeat), and group commit of the
per-message commands into redis-py pipelines."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.maint_notifications import MaintNotificationsConfig

from chatserver.config import SENTINEL_SCHEME, parse_sentinel_url

# Deadlines: Redis answers the relay's commands in well under a millisecond; a call that has
# not been answered after this long fails (and the client gets ``internal``) rather than hang.
TIMEOUT_S = 2.0
# A connection idle for this long is checked with a PING before it carries a command, so that a
# connection a firewall or a Redis restart dropped fails before a command is sent on it.
HEALTH_CHECK_S = 15


def pool_options(timeout_s: float = TIMEOUT_S, retries: int = 0) -> dict[str, Any]:
    """redis-py connection options: deadlines on connecting and on every reply, health checks,
    and ``retries`` repeats after a lost connection or a missed deadline (0: sent once)."""
    retry = (Retry(ExponentialBackoff(cap=0.2, base=0.02), retries) if retries
             else Retry(NoBackoff(), 0))
    return {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s,
            "health_check_interval": HEALTH_CHECK_S, "retry": retry,
            # Maintenance notifications (a Redis Enterprise feature, on by default with RESP3)
            # turn off redis-py's check that a pooled connection is still open before a command
            # goes out on it: a connection Redis closed while idle would fail a call sent once.
            "maint_notifications_config": MaintNotificationsConfig(enabled=False)}


class _SentinelConnection(SentinelManagedConnection):
    """A connection to the primary the sentinels name, also when it connects again by itself.

    redis-py asks the sentinels where the primary is when a pool hands a connection out, but a
    dropped connection that reconnects on its next command (a dedicated connection, a repeated
    call) goes back to the address it had: after a failover, the dead primary's. Here it asks.
    """

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.is_connected:
            await self.connect()  # type: ignore[no-untyped-call]
        await super().send_packed_command(command, check_health)


class _SentinelPool(SentinelConnectionPool):
    """Connections to the primary the sentinels name: each new connection asks them where it is,
    so after a failover the pool's connections go to the new primary (redis-py drops idle ones
    to the old primary as soon as a sentinel names another). Closing the pool also closes its
    connections to the sentinels."""

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


class _BlockingSentinelPool(_SentinelPool, aioredis.BlockingConnectionPool):
    """The same, waiting for a free connection instead of failing when all are in use."""


def connect(url: str, *, wait_s: float | None = None, single: bool = False,
            **options: Any) -> aioredis.Redis:
    """A redis-py client of ``url`` (redis://, rediss://, unix:// or redis+sentinel://) with
    ``options`` on every connection to Redis. ``wait_s``: a blocking pool, in which a command
    waits up to this long for a free connection; ``single``: one dedicated connection.

    For a Sentinel URL the pool is the one redis-py's ``Sentinel.master_for`` makes (here also
    in a blocking kind); the sentinels are asked under the same deadlines, each once: asking
    the next sentinel is the repeat.
    """
    pool: aioredis.ConnectionPool
    blocking = {} if wait_s is None else {"timeout": wait_s}
    if url.startswith(SENTINEL_SCHEME):
        target = parse_sentinel_url(url)
        asking = {key: options[key] for key in ("socket_timeout", "socket_connect_timeout",
                                                "maint_notifications_config") if key in options}
        sentinels = Sentinel(  # type: ignore[no-untyped-call]
            target.sentinels, sentinel_kwargs={**asking, "retry": Retry(NoBackoff(), 0)})
        pool_class = _SentinelPool if wait_s is None else _BlockingSentinelPool
        credentials = {"username": target.username or None, "password": target.password or None}
        pool = pool_class(  # type: ignore[no-untyped-call]
            target.service, sentinels, is_master=True, connection_class=_SentinelConnection,
            db=target.db, **credentials, **blocking, **options)
    elif wait_s is None:
        pool = aioredis.ConnectionPool.from_url(url, **options)
    else:
        pool = aioredis.BlockingConnectionPool.from_url(url, **blocking, **options)
    client = aioredis.Redis(connection_pool=pool, single_connection_client=single)
    # The client owns its pool, as with from_url and from_pool: closing it closes the pool.
    client.auto_close_connection_pool = True
    return client


_Waiting = tuple[tuple[Any, ...], AsyncScript | None, "asyncio.Future[Any]"]


class Together:
    """Group commit on one redis-py client: a command alone goes at once, as it is; commands
    made while one is on its way wait for it and then go together in one redis-py pipeline
    (one write, one read, one pass through redis-py for all of them). So at most one command
    or pipeline is on its way at a time, and the client can keep one dedicated connection
    (``single_connection_client``) instead of taking one from its pool for every command.

    The pipeline fails or is repeated as a whole, by the client's retry policy: use it only
    for commands that may fail together, and on a repeating client only for commands safe to
    repeat. ``script`` names the Lua script an EVALSHA runs, to load it if Redis forgot it.
    """

    def __init__(self, url: str, **options: Any) -> None:
        self._client = connect(url, single=True, **options)
        self._busy = False
        self._waiting: list[_Waiting] = []
        self._runner: asyncio.Task[None] | None = None

    async def call(self, *command: Any, script: AsyncScript | None = None) -> Any:
        """Run ``command`` (``execute_command`` arguments) and return its reply."""
        if self._busy:
            reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiting.append((command, script, reply))
            return await reply
        self._busy = True
        try:
            return await self._alone(command, script)
        finally:
            self._next()

    async def _alone(self, command: tuple[Any, ...], script: AsyncScript | None) -> Any:
        try:
            return await self._client.execute_command(*command)  # type: ignore[no-untyped-call]
        except NoScriptError:
            if script is None:
                raise
            # Redis forgot the script (a restart, SCRIPT FLUSH): it did not run; load it.
            await self._client.script_load(script.script)
            return await self._client.execute_command(*command)  # type: ignore[no-untyped-call]

    def _next(self) -> None:
        if not self._waiting:
            self._busy = False
            return
        batch, self._waiting = self._waiting, []
        self._runner = asyncio.create_task(self._together(batch))

    async def _together(self, batch: list[_Waiting]) -> None:
        try:
            if len(batch) == 1:
                results: list[Any] = []
                try:
                    results.append(await self._alone(batch[0][0], batch[0][1]))
                except Exception as exc:  # handed to the caller below
                    results.append(exc)
            else:
                async with self._client.pipeline(transaction=False) as pipe:
                    for command, _, _ in batch:
                        pipe.execute_command(*command)
                    results = await pipe.execute(raise_on_error=False)
                for i, (command, script, _) in enumerate(batch):
                    if isinstance(results[i], NoScriptError) and script is not None:
                        try:
                            results[i] = await self._alone(command, script)
                        except Exception as exc:  # handed to the caller below
                            results[i] = exc
            for (_, _, reply), result in zip(batch, results, strict=True):
                if reply.done():
                    continue
                if isinstance(result, Exception):
                    reply.set_exception(result)
                else:
                    reply.set_result(result)
        except BaseException as exc:
            for _, _, reply in batch:
                if not reply.done():
                    reply.set_exception(exc if isinstance(exc, Exception)
                                        else RedisConnectionError("cancelled"))
            if not isinstance(exc, Exception):
                raise
        finally:
            self._next()

    async def close(self) -> None:
        """Wait for commands still on their way (each bounded by its deadline), then close."""
        while (runner := self._runner) is not None and not runner.done():
            await asyncio.wait([runner])
        await self._client.aclose()
