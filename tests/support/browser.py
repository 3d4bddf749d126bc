"""A chat server for browser tests: real server on a known port, pinned throwaway PKI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright

from chatserver import crypto
from chatserver.admin import demo
from chatserver.config import Config
from chatserver.main import create_app
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness
from tests.support.redis_server import free_port

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@asynccontextmanager
async def widget_server(make_config: Callable[..., Config], tmp_path: Path, pki: Pki,
                        **overrides: object) -> AsyncIterator[Harness]:
    """A real server whose config pins ``pki`` and allows its own origin."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    revocations = tmp_path / "revocations.json"
    revocations.write_text(json.dumps(pki.revocations))
    pinned = {} if overrides.get("demo") else {
        "org_public_key": crypto.b64encode(pki.org_public_key),
        "revocations_file": str(revocations)}
    config = demo.prepare(make_config(
        port=port, public_origins=(origin,), embed_origins=(origin,),
        exit_url=origin + "/healthz", **pinned, **overrides))
    server = TestServer(create_app(config), host="127.0.0.1", port=port)
    await server.start_server()
    harness = Harness(server.app, origin)
    try:
        yield harness
    finally:
        await harness.close()
        await server.close()


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, with no background traffic."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium",
                                           args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
