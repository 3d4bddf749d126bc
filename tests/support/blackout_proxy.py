"""A TCP proxy between chat server nodes and Redis for a blackout: every reply lost for a while,
then every connection broken, as when the network between a node and Redis fails. Commands
sent meanwhile reach Redis and run; their answers (and pub/sub messages) never arrive. (For
losing the reply to one chosen command see ``lossy_proxy.py``.)"""

from __future__ import annotations

import asyncio
import contextlib


class BlackoutProxy:
    """Forwards both ways to ``127.0.0.1:upstream_port`` until told to swallow or cut."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.swallowing = False
        self._sent = bytearray()  # everything that went towards Redis (for ``seen``)
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def seen(self, marker: bytes) -> int:
        """How often ``marker`` went through towards Redis so far."""
        return self._sent.count(marker)

    def swallow(self) -> None:
        """From now on, drop everything Redis sends back (the connections stay open)."""
        self.swallowing = True

    async def cut(self) -> None:
        """Close every connection, then forward normally again (new connections work)."""
        for down, up in list(self._links):
            down.close()
            up.close()
        self.swallowing = False
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            self._handlers.discard(task)
            return
        link = (writer, up_writer)
        self._links.add(link)

        async def to_redis() -> None:
            while data := await reader.read(65536):
                self._sent.extend(data)
                up_writer.write(data)
                await up_writer.drain()

        async def to_node() -> None:
            while data := await up_reader.read(65536):
                if self.swallowing:
                    continue
                writer.write(data)
                await writer.drain()

        pumps = [asyncio.create_task(to_redis()), asyncio.create_task(to_node())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._links.discard(link)
            for w in link:
                w.close()
                with contextlib.suppress(ConnectionError):
                    await w.wait_closed()
            self._handlers.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.cut()
        if self._server is not None:
            await self._server.wait_closed()
