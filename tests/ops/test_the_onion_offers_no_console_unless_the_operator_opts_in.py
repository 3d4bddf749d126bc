"""``deploy/nginx`` as shipped keeps the console off the onion service: through the onion
listener (Tor's PROXY header and all) every /console path is 404 from nginx while the chat
answers; the public TLS server passes /console on, where the chat server decides by
``CHATSERVER_CONSOLE_ORIGIN``. An operator who deletes the one include line offers it there
too (docs/operations.md, "The console's own origin")."""

from __future__ import annotations

import asyncio
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from chatserver.config import Config
from chatserver.main import create_app
from tests.support.redis_server import free_port
from tests.support.topology import NGINX_DIR, Nginx, nginx_binary

INCLUDE = "    include erstkontakt/onion-no-console.conf;\n"


def test_only_the_onion_server_blocks_include_the_refusal() -> None:
    refusal = (NGINX_DIR / "erstkontakt" / "onion-no-console.conf").read_text()
    assert "location ^~ /console {\n    return 404;\n}" in refusal
    for name in ("erstkontakt.conf", "compose.conf"):
        blocks = (NGINX_DIR / name).read_text().split("server {")[1:]
        with_refusal = [b for b in blocks if INCLUDE in b]
        assert len(with_refusal) == 1 and "proxy_protocol" in with_refusal[0], name
        # Before the shared locations, so it is the onion's own answer.
        block = with_refusal[0]
        assert block.index(INCLUDE) < block.index("include erstkontakt/locations.conf;"), name


def over_onion(port: int, path: str) -> int:
    """The status nginx's onion listener answers ``path`` with (as Tor sends it: a PROXY
    header with a per-circuit pseudo-address first)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"PROXY TCP4 0.0.0.7 127.0.0.1 7 80\r\n"
                     + f"GET {path} HTTP/1.1\r\nHost: example.onion\r\n"
                       "Connection: close\r\n\r\n".encode())
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def over_tls(url: str) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_the_onion_listener_refuses_the_console_until_the_operator_opts_in(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    if nginx_binary() is None:
        pytest.skip("nginx is not installed")
    port = free_port()
    # The console on every origin the node serves: only nginx keeps it off the onion here.
    config = make_config(port=port, trusted_proxies=("127.0.0.1",))
    server = TestServer(create_app(config), host="127.0.0.1", port=port)
    await server.start_server()
    for opted_in in (False, True):
        nginx = Nginx(tmp_path / f"nginx-{opted_in}", [port])
        nginx.configure()
        if opted_in:
            site = nginx.root / "erstkontakt.conf"
            text = site.read_text()
            assert text.count(INCLUDE) == 1
            site.write_text(text.replace(INCLUDE, ""))
        nginx.start()
        try:
            for path in ("/console", "/console/", "/console/login", "/console/static/login.js"):
                status = await asyncio.to_thread(over_onion, nginx.onion_port, path)
                # Opted in: the console's own answers (/console/ sends to the login page).
                expected = 404 if not opted_in else {"/console": 301, "/console/": 303}.get(
                    path, 200)
                assert status == expected, (opted_in, path)
            assert await asyncio.to_thread(over_onion, nginx.onion_port, "/healthz") == 200
            assert await asyncio.to_thread(over_tls, nginx.url + "/console/login") == 200
        finally:
            nginx.stop()
    await server.close()
