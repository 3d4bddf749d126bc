"""A TCP proxy in front of a throwaway Redis that can lose the reply to one chosen command."""

from __future__ import annotations

import asyncio
import contextlib


class LossyProxy:
    """Forwards every byte both ways, except: once armed with a marker, the next request that
    contains it still reaches Redis (which runs it), but its reply is dropped and the client's
    connection closed, as when a connection breaks between the command and its answer."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._marker: bytes | None = None
        self._requests: list[bytearray] = []
        self._most: dict[bytes, int] = {}
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[object]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def lose_reply_to(self, marker: bytes) -> None:
        """Lose the reply to the next request containing ``marker``."""
        self._marker = marker

    def seen(self, marker: bytes) -> int:
        """How many times ``marker`` went through towards Redis."""
        return sum(bytes(data).count(marker) for data in self._requests)

    def count_per_write(self, marker: bytes) -> None:
        """Start noting the most times ``marker`` came in one read from a client."""
        self._most[marker] = 0

    def most_per_write(self, marker: bytes) -> int:
        """The most times ``marker`` came in one read since ``count_per_write``."""
        return self._most[marker]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]
        requests = bytearray()
        self._requests.append(requests)
        doomed = asyncio.Event()

        async def to_redis() -> None:
            while data := await reader.read(65536):
                requests.extend(data)
                for marker, most in self._most.items():
                    self._most[marker] = max(most, data.count(marker))
                if self._marker is not None and self._marker in requests[-len(data) - 64:]:
                    self._marker = None
                    doomed.set()
                up_writer.write(data)
                await up_writer.drain()

        async def to_client() -> None:
            while data := await up_reader.read(65536):
                if doomed.is_set():
                    break
                writer.write(data)
                await writer.drain()

        pumps = [asyncio.create_task(to_redis()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(ConnectionError):
                    await w.wait_closed()
            self._handlers.discard(handler)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            w.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
