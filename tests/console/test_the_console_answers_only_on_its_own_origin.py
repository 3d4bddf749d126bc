"""With ``CHATSERVER_CONSOLE_ORIGIN`` the console lives on its own origin: every other host
(the public site, the onion) gets 404 for anything under /console while the widget and the API
stay there; the counsellors' socket refuses any other Origin; the console's cookies are set by
its host alone (``__Host-``, no Domain) and its passkeys' relying party is its host, whatever
Host header a request sends. A console origin that is not one of the public origins, or not an
origin at all, stops the start."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer

from chatserver.config import Config, ConfigError
from chatserver.main import create_app
from tests.support.clients import CounsellorClient
from tests.support.harness import Harness
from tests.support.redis_server import free_port

CONSOLE_PATHS = ("/console", "/console/", "/console/login", "/console/account",
                 "/console/static/login.js", "/console/api/keys", "/console/stats")


@pytest.fixture
async def split(make_config: Callable[..., Config]) -> AsyncIterator[tuple[Harness, str]]:
    """A server whose public site is http://127.0.0.1:PORT and whose console is on
    http://localhost:PORT; yields the harness (on the public site) and the console's URL."""
    port = free_port()
    public, console = f"http://127.0.0.1:{port}", f"http://localhost:{port}"
    config = make_config(port=port, public_origins=(public, console), console_origin=console)
    server = TestServer(create_app(config), host="127.0.0.1", port=port)
    await server.start_server()
    harness = Harness(server.app, public)
    try:
        yield harness, console
    finally:
        await harness.close()
        await server.close()


async def test_only_the_console_origin_serves_the_console(
        split: tuple[Harness, str]) -> None:
    h, console = split
    host = console.removeprefix("http://")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for path in CONSOLE_PATHS:
            async with http.get(h.url + path, allow_redirects=False) as resp:
                assert resp.status == 404, path
                assert "console" not in (await resp.text()).lower(), path
        async with http.post(h.url + "/console/login", data={"name": "x"}) as resp:
            assert resp.status == 404
        # The public site keeps everything else.
        for path in ("/healthz", "/api/availability", "/widget/embed.js", "/consoles"):
            async with http.get(h.url + path) as resp:
                assert resp.status == (404 if path == "/consoles" else 200), path
        # The console's own host: the login page, its cookie, and passkeys for its host.
        async with http.get(h.url + "/console/login", headers={"Host": host}) as resp:
            assert resp.status == 200
            found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
            cookie = resp.headers["Set-Cookie"]
        assert found is not None
        assert "Domain" not in cookie
        async with http.get(h.url + "/console", headers={"Host": host},
                            allow_redirects=False) as resp:
            assert resp.status == 301 and resp.headers["Location"] == "/console/"
        async with http.post(h.url + "/console/login/passkey", headers={
                "Host": host, "X-CSRF-Token": found.group(1)}) as resp:
            assert resp.status == 200
            assert (await resp.json())["options"]["rpId"] == "localhost"


async def test_the_counsellor_socket_connects_only_from_the_console_origin(
        split: tuple[Harness, str]) -> None:
    h, console = split
    token = await h.token("akeller", pseudonym="Anna")
    for origin in (h.url, ""):
        stranger = CounsellorClient(h.url, token, headers={"Origin": origin} if origin else {})
        with pytest.raises(socketio.exceptions.ConnectionError):
            await stranger.connect()
    client = CounsellorClient(h.url, token, headers={"Origin": console})
    await client.connect()
    h.track(client)
    assert (await client.duty(True))["ok"]


async def test_cookies_on_an_https_console_origin_are_its_own(
        make_config: Callable[..., Config]) -> None:
    config = make_config(public_origins=("https://chat.example.org",
                                         "https://konsole.example.org"),
                         console_origin="https://konsole.example.org")
    assert config.secure_cookies and config.passkey_rp_id == "konsole.example.org"
    assert config.passkey_origins == ("https://konsole.example.org",)
    server = TestServer(create_app(config))
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            url = str(server.make_url("/console/login"))
            async with http.get(url, headers={"Host": "chat.example.org"}) as resp:
                assert resp.status == 404
            async with http.get(url, headers={"Host": "konsole.example.org"}) as resp:
                assert resp.status == 200
                cookie = resp.headers["Set-Cookie"]
        assert cookie.startswith("__Host-ek_login=") and "Secure" in cookie
        assert "Path=/;" in cookie + ";" and "Domain" not in cookie
    finally:
        await server.close()


def test_a_console_origin_outside_the_public_origins_or_malformed_stops_the_start(
        make_config: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError, match="CHATSERVER_CONSOLE_ORIGIN: must also be one of"):
        make_config(public_origins=("https://chat.example.org",),
                    console_origin="https://konsole.example.org")
    for bad in ("konsole.example.org", "https://konsole.example.org/", "https://Konsole.org"):
        with pytest.raises(ConfigError, match="CHATSERVER_CONSOLE_ORIGIN"):
            make_config(public_origins=("https://chat.example.org", bad), console_origin=bad)
    # Unset: the passkeys' party is the first public origin with a host name.
    plain = make_config(public_origins=("http://127.0.0.1:8080", "http://localhost:8080"))
    assert plain.passkey_rp_id == "localhost"
    assert plain.passkey_origins == ("http://localhost:8080",)
    assert make_config(public_origins=("http://127.0.0.1:8080",)).passkey_rp_id == ""
