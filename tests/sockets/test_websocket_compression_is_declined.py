"""The server never agrees to permessage-deflate: ciphertext does not compress, and every
compressed socket would hold a zlib context and spend CPU on each frame (docs/benchmarks.md)."""

from __future__ import annotations

import aiohttp

from tests.support.harness import Harness


async def test_websocket_upgrade_declines_compression(harness: Harness) -> None:
    url = harness.url + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(url, compress=15) as ws:
        assert ws.compress == 0  # the client offered deflate; the server answered without it
        opened = await ws.receive_str()
        assert opened.startswith("0{")  # engine.io open packet: the socket works
        await ws.send_str("40/visitor,")
        assert (await ws.receive_str()).startswith("40/visitor,")
