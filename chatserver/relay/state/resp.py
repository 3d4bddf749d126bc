"""A lean Redis connection for the relay's hot path: every envelope's buffer script and every
socket.io publish.

redis-py spends about 100–170 µs of CPU per command here (pool, retry and timeout wrappers
around each call); this sends commands down one connection without waiting for each other
(pipelined) and parses replies with hiredis, at about 30 µs (docs/benchmarks.md). It speaks
only what the hot path needs: plain ``redis://`` and ``unix://`` URLs with an optional
password and database; for anything else (TLS, unusual options) ``connect_url`` answers None
and callers keep using redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import hiredis


class RespError(Exception):
    """Redis answered with an error, or the connection went away."""


def _pack(args: tuple[Any, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8")
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(RespError("connection to Redis lost"))


class Resp:
    """One pipelined connection, opened on first use and again after it is lost."""

    def __init__(self, host: str, port: int, path: str, db: int, username: str,
                 password: str) -> None:
        self._where = (host, port, path)
        self._hello: list[tuple[Any, ...]] = []
        if password:
            self._hello.append(("AUTH", username, password) if username else ("AUTH", password))
        if db:
            self._hello.append(("SELECT", db))
        self._proto: _Protocol | None = None
        self._connecting = asyncio.Lock()
        self._scripts: dict[str, str] = {}

    async def _connection(self) -> _Protocol:
        proto = self._proto
        if proto is not None and proto.transport is not None:
            return proto
        async with self._connecting:
            if self._proto is not None and self._proto.transport is not None:
                return self._proto
            loop = asyncio.get_running_loop()
            host, port, path = self._where
            if path:
                _, proto = await loop.create_unix_connection(_Protocol, path)
            else:
                _, proto = await loop.create_connection(_Protocol, host, port)
            try:
                for command in self._hello:
                    self._check(await self._send(proto, command))
            except BaseException:
                if proto.transport is not None:
                    proto.transport.close()
                raise
            self._proto = proto
            return proto

    @staticmethod
    def _send(proto: _Protocol, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        if proto.transport is None:
            raise RespError("connection to Redis lost")
        waiter = asyncio.get_running_loop().create_future()
        proto.waiting.append(waiter)
        proto.transport.write(_pack(args))
        return waiter

    @staticmethod
    def _check(reply: Any) -> Any:
        if isinstance(reply, hiredis.ReplyError):
            raise RespError(str(reply))
        return reply

    async def _round_trip(self, args: tuple[Any, ...]) -> Any:
        """The raw reply (error replies included); one fresh attempt if the connection was
        lost. Repeating is safe on this path: a repeated envelope is a duplicate ``seq``, a
        repeated ack or publish changes nothing the receiver has not already dropped."""
        for attempt in (1, 2):
            try:
                return await self._send(await self._connection(), args)
            except (RespError, OSError):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def call(self, *args: Any) -> Any:
        """Send one command and return its reply; raises RespError on an error reply."""
        return self._check(await self._round_trip(args))

    async def script(self, body: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script by its hash, loading it the first time Redis does not know it."""
        sha = self._scripts.get(body)
        if sha is not None:
            reply = await self._round_trip(("EVALSHA", sha, len(keys), *keys, *args))
            if not (isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT")):
                return self._check(reply)
        self._scripts[body] = sha = await self.call("SCRIPT", "LOAD", body)
        return await self.call("EVALSHA", sha, len(keys), *keys, *args)

    async def close(self) -> None:
        proto = self._proto
        self._proto = None
        if proto is not None and proto.transport is not None:
            proto.transport.close()


def connect_url(url: str) -> Resp | None:
    """A Resp for a plain ``redis://`` or ``unix://`` URL; None for anything it cannot speak."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    if set(query) - {"db"}:
        return None
    try:
        db = int(query["db"][0]) if "db" in query else 0
        if parsed.scheme == "redis":
            path = parsed.path.lstrip("/")
            db = int(path) if path else db
            return Resp(parsed.hostname or "localhost", parsed.port or 6379, "", db,
                        unquote(parsed.username or ""), unquote(parsed.password or ""))
        if parsed.scheme == "unix" and parsed.path:
            return Resp("", 0, parsed.path, db, unquote(parsed.username or ""),
                        unquote(parsed.password or ""))
    except ValueError:
        return None
    return None
