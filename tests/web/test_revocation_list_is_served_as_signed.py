"""The server passes the organisation's signed revocation list on, byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from pytest_aiohttp import AiohttpServer

from chatserver.config import Config
from chatserver.main import create_app


async def test_revocation_list_is_served_unchanged_or_404(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any], tmp_path: Path
) -> None:
    listing = tmp_path / "revocations.json"
    listing.write_text(json.dumps({"v": 1, "issued": 1, "revoked": [], "sig": "AAAA"}))
    server: AiohttpServer = await aiohttp_server(
        create_app(make_config(revocations_file=str(listing))))
    async with aiohttp.ClientSession() as http, \
            http.get(server.make_url("/api/revocations.json")) as resp:
        assert resp.status == 200
        assert await resp.read() == listing.read_bytes()
        assert "set-cookie" not in resp.headers
    bare: AiohttpServer = await aiohttp_server(create_app(make_config()))
    async with aiohttp.ClientSession() as http, \
            http.get(bare.make_url("/api/revocations.json")) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"] == "not_found"
