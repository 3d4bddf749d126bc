"""A loopback TCP proxy that records every byte in both directions, and the peers the kernel
sees: what the privacy tests scan for canaries, and how they prove where a client came from.
"""

from __future__ import annotations

import asyncio


class RecordingProxy:
    """A loopback TCP proxy that keeps every byte, per direction, and connects upstream from
    the client's own source address, or from ``source`` (so the server sees e.g. 127.0.0.77).

    Server-to-client websocket frames are never masked, so what the server sends is readable
    in ``down`` as is; ``up`` holds the client's requests (with their headers) and masked frames.
    """

    def __init__(self, target_host: str, target_port: int, source: str | None = None) -> None:
        self.target = (target_host, target_port)
        # Loopback connections to 127.0.0.77 still come *from* 127.0.0.1; a browser reaches
        # the server from another address only through a proxy that binds it upstream.
        self.source = source
        self.up = bytearray()
        self.down = bytearray()
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        source = self.source or writer.get_extra_info("peername")[0]
        up_reader, up_writer = await asyncio.open_connection(*self.target,
                                                             local_addr=(source, 0))
        for src, dst, log in ((reader, up_writer, self.up), (up_reader, writer, self.down)):
            task = asyncio.create_task(self._pipe(src, dst, log))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    log: bytearray) -> None:
        try:
            while data := await src.read(65536):
                log += data
                dst.write(data)
                await dst.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            dst.close()

    def idle(self) -> bool:
        """True when no connection is open through the proxy (every byte has passed)."""
        return not self._tasks

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


def loopback_peers(port: int) -> set[str]:
    """Source addresses of the TCP connections to ``port`` on this machine (from /proc)."""
    peers = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            local, remote = line.split()[1:3]
            if int(local.split(":")[1], 16) == port:
                raw = bytes.fromhex(remote.split(":")[0])[::-1]
                peers.add(".".join(str(b) for b in raw))
    return peers
