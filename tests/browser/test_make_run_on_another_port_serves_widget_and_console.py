"""``make run`` with only the port changed: the real ``chatserver serve`` in demo mode, no
origin configured, and Chromium chats through it from both names of this machine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from playwright.async_api import WebSocket

from tests.support.browser import chromium, unlock
from tests.support.nodes import Node

pytestmark = pytest.mark.browser

CREDENTIALS = re.compile(r"DEMO counsellor: (\S+) / password (\S+)\n\s+TOTP: (\S+)")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """As ``make run`` starts it, on a free port that is not 8080, with no origin set."""
    server = Node({"CHATSERVER_DEMO": "true", "CHATSERVER_KDF_COST": "min",
                   "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
                  tmp_path / "node.log")
    assert server.port != 8080
    for name in ("CHATSERVER_PUBLIC_ORIGINS", "CHATSERVER_EMBED_ORIGINS"):
        server.env.pop(name, None)
    server.start()
    yield server
    server.stop()


async def test_widget_and_console_connect_on_another_port(node: Node) -> None:
    output = node.output().decode()
    # Demo mode only prints these, and says so; this is a throwaway account in tmp_path.
    found = CREDENTIALS.search(output)
    assert found, "no demo credentials in the output"
    name, password, uri = found.groups()
    assert f"console:     http://127.0.0.1:{node.port}/console/" in output
    console_url = f"http://127.0.0.1:{node.port}"
    visitor_url = f"http://localhost:{node.port}"
    refused: list[str] = []

    def watch(ws: WebSocket) -> None:
        ws.on("socketerror", lambda error: refused.append(str(error)))

    async with chromium() as browser:
        console_ctx = await browser.new_context()
        console = await console_ctx.new_page()
        console.on("websocket", watch)
        # As typed: without the trailing slash.
        await console.goto(console_url + "/console")
        await console.wait_for_url(console_url + "/console/login")
        code = pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0]).now()
        await console.get_by_label("Name").fill(name)
        await console.get_by_label("Passwort").fill(password)
        await console.get_by_label("Einmalcode").fill(code)
        await console.get_by_role("button", name="Anmelden").click()
        # First sign-in: the counsellor chooses the key passphrase that unlocks the keys.
        await unlock(console)
        # The duty button is enabled only once the console's socket is connected and synced.
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()

        visitor_ctx = await browser.new_context()
        visitor = await visitor_ctx.new_page()
        visitor.on("websocket", watch)
        # The other name of this machine, on the host page that embeds the widget.
        await visitor.goto(visitor_url + "/demo")
        await visitor.get_by_role("button", name="Anonym chatten").click()
        chat = visitor.frame_locator("iframe")
        await chat.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await chat.locator("#peer").get_by_text(re.compile("Du schreibst mit")).wait_for()
        await chat.get_by_label("Nachricht", exact=True).fill("Hallo auf einem anderen Port")
        await chat.get_by_role("button", name="Senden").click()
        await console.get_by_text("Hallo auf einem anderen Port").wait_for()

        assert refused == []
        await console_ctx.close()
        await visitor_ctx.close()
