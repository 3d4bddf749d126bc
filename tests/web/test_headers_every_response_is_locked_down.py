"""Security headers on every response, HSTS over TLS, no visitor cookies, and no socket from a
foreign Origin.

Routes are read from the app's router, so pages added later (widget, console) are checked too:
a page under ``/console`` may never be framed, the widget iframe only by the configured host
sites, everything else by nobody.
"""

from __future__ import annotations

import re
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from chatserver.config import Config
from chatserver.main import create_app
from tests.support.clients import CounsellorClient, VisitorClient
from tests.support.hardening import AddressedCounsellor, AddressedVisitor
from tests.support.harness import Harness
from tests.support.redis_server import free_port

pytestmark = pytest.mark.hardening

EMBED = ("https://beratung.example.org", "https://www.example.net")
ONE_YEAR = 365 * 86400
ASSET_TYPES = ("text/javascript", "application/javascript", "text/css", "application/json")


def csp(header: str) -> dict[str, list[str]]:
    """The directives of a Content-Security-Policy header."""
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def get_paths(app: web.Application, top: bool = True) -> list[str]:
    """Every GET route (sub-apps included; parameters filled with a missing name), plus
    paths that exist only as errors. Pages' own assets are added by ``with_assets``."""
    paths = {"/", "/nope", "/api/nope", "/socket.io/?EIO=4&transport=polling"} if top else set()
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:  # a sub-application such as the widget (paths already prefixed)
            paths.add(str(info["prefix"]).rstrip("/") + "/")
            paths.update(get_paths(info["app"], top=False))
        elif "path" in info and any(r.method in ("GET", "*") for r in resource):
            paths.add(str(info["path"]))
        elif "formatter" in info:
            paths.add(re.sub(r"\{[^}]*\}", "missing.js", str(info["formatter"])))
        elif "prefix" in info:  # static directories: their index and a missing file
            paths.add(str(info["prefix"]).rstrip("/") + "/")
            paths.add(str(info["prefix"]).rstrip("/") + "/missing.js")
    return sorted(paths)


async def with_assets(http: aiohttp.ClientSession, base: str, paths: list[str]) -> list[str]:
    """``paths`` plus every same-origin script, style and page the HTML pages refer to."""
    found = set(paths)
    for path in paths:
        async with http.get(base + path, allow_redirects=False) as resp:
            if resp.content_type != "text/html":
                continue
            for ref in re.findall(r'(?:src|href)="([^"]+)"', await resp.text()):
                ref = ref.replace(base, "")
                if ref.startswith("/") and not ref.startswith("//"):
                    found.add(ref)
    return sorted(found)


def frame_ancestors_for(path: str, status: int) -> list[str]:
    """Only the widget's chat page may be framed, and only by the configured host sites."""
    if path.split("?")[0] == "/widget/frame" and status == 200:
        return ["'self'", *EMBED]
    return ["'none'"]


def check_headers(path: str, resp: aiohttp.ClientResponse, tls: bool) -> None:
    headers = resp.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "no-referrer", path
    permissions = headers.get("Permissions-Policy", "")
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in permissions, (path, feature)
    assert "Server" not in headers, path
    policy = csp(headers.get("Content-Security-Policy", ""))
    assert policy, path
    assert policy.get("frame-ancestors") == frame_ancestors_for(path, resp.status), \
        (path, policy)
    assert policy.get("base-uri") == ["'none'"], path
    # object-src 'none' directly or through default-src 'none'.
    assert policy.get("object-src", policy.get("default-src")) == ["'none'"], path
    for directive in ("script-src", "style-src", "default-src"):
        for bad in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
            assert bad not in policy.get(directive, []), (path, directive, bad)
    if resp.content_type == "text/html":
        assert headers.get("Cross-Origin-Opener-Policy") == "same-origin", path
    # Nothing a browser or proxy may keep: pages and answers not at all, public assets
    # only after asking again.
    cache = headers.get("Cache-Control", "")
    assert "no-store" in cache or (resp.content_type in ASSET_TYPES and "no-cache" in cache), \
        (path, cache)
    if tls:
        hsts = {}
        for part in headers.get("Strict-Transport-Security", "").split(";"):
            name, _, value = part.strip().partition("=")
            hsts[name] = value
        assert int(hsts.get("max-age", "0")) >= ONE_YEAR, path
        assert "includeSubDomains" in hsts, path
    else:
        assert "Strict-Transport-Security" not in headers, path
    if not path.startswith("/console"):
        assert "Set-Cookie" not in headers, path


@pytest.fixture
async def server(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any]
) -> AsyncIterator[Harness]:
    port = free_port()
    config = make_config(port=port, embed_origins=EMBED,
                         public_origins=(f"http://127.0.0.1:{port}",))
    app_server: AiohttpServer = await aiohttp_server(create_app(config), port=port)
    h = Harness(app_server.app, str(app_server.make_url("/")))
    yield h
    await h.close()


async def test_every_response_carries_the_headers(server: Harness) -> None:
    paths = get_paths(server.app)
    async with aiohttp.ClientSession() as http:
        paths = await with_assets(http, server.url, paths)
        assert "/widget/frame" in paths and any(p.endswith(".js") for p in paths)
        for path in paths:
            for method in ("GET", "HEAD", "OPTIONS", "DELETE"):
                async with http.request(method, server.url + path,
                                        allow_redirects=False) as resp:
                    check_headers(path, resp, tls=False)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1, made with openssl."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return key, cert


async def test_hsts_over_tls_on_every_response(
    make_config: Callable[..., Config], certificate: tuple[Path, Path]
) -> None:
    key, cert = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    trusted = ssl.create_default_context(cafile=str(cert))
    port = free_port()
    config = make_config(embed_origins=EMBED,
                         public_origins=(f"https://127.0.0.1:{port}",))
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=served).start()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusted)) as http:
            base = f"https://127.0.0.1:{port}"
            for path in await with_assets(http, base, get_paths(app)):
                async with http.get(f"https://127.0.0.1:{port}{path}",
                                    allow_redirects=False) as resp:
                    check_headers(path, resp, tls=True)
            # The socket itself works over TLS, with the same headers on its upgrade.
            ws_url = f"wss://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
            async with http.ws_connect(ws_url) as ws:
                assert ws._response is not None
                check_headers("/socket.io/", ws._response, tls=True)
                assert str((await ws.receive(timeout=5)).data).startswith("0{")
    finally:
        await runner.cleanup()


async def test_visitor_socket_sets_no_cookie_on_either_transport(server: Harness) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "/socket.io/?EIO=4&transport=polling") as resp:
            assert resp.status == 200 and "Set-Cookie" not in resp.headers
            sid = (await resp.text()).split('"sid":"')[1].split('"')[0]
        url = f"{server.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
        async with http.post(url, data="40/visitor,") as resp:
            assert resp.status == 200 and "Set-Cookie" not in resp.headers
        async with http.get(url) as resp:
            assert "40/visitor," in await resp.text() and "Set-Cookie" not in resp.headers
        ws_url = server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        async with http.ws_connect(ws_url) as ws:
            assert ws._response is not None and "Set-Cookie" not in ws._response.headers
        assert not http.cookie_jar.filter_cookies(server.url)  # type: ignore[arg-type]


FOREIGN = ["https://evil.example", "null", "http://127.0.0.1:1", "http://localhost.evil.example",
           "http://127.0.0.1:8080.evil.example"]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_sockets_from_a_foreign_origin_are_refused(server: Harness, transport: str) -> None:
    own = server.url
    token = await server.token("anna", pseudonym="Anna")
    for origin in FOREIGN:
        for client in (AddressedVisitor(own, headers={"Origin": origin}),
                       AddressedCounsellor(own, token, headers={"Origin": origin})):
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(transports=[transport])
            assert not client.connected


async def test_sockets_from_our_origin_or_without_origin_are_let_in(server: Harness) -> None:
    token = await server.token("anna", pseudonym="Anna")
    for headers in ({"Origin": server.url.rstrip("/")}, {}):
        visitor = VisitorClient(server.url, headers=headers)
        await visitor.connect()
        assert (await visitor.request())["ok"]
        await visitor.disconnect()
        counsellor = CounsellorClient(server.url, token, headers=headers)
        await counsellor.connect()
        assert (await counsellor.sync())["me"]["id"] == "anna"
        await counsellor.disconnect()


async def test_cors_echoes_only_allowed_origins_and_jsonp_is_refused(server: Harness) -> None:
    origin = server.url.rstrip("/")
    base = server.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(base, headers={"Origin": origin}) as resp:
            assert resp.status == 200
            assert resp.headers.get("Access-Control-Allow-Origin") == origin
        async with http.get(base, headers={"Origin": "https://evil.example"}) as resp:
            assert resp.status == 400
            assert "Access-Control-Allow-Origin" not in resp.headers
        # Long-polling from our origin reaches the namespace.
        async with http.get(base, headers={"Origin": origin}) as resp:
            sid = (await resp.text()).split('"sid":"')[1].split('"')[0]
        async with http.post(f"{base}&sid={sid}", data="40/visitor,",
                             headers={"Origin": origin}) as resp:
            assert resp.status == 200
        async with http.get(f"{base}&sid={sid}", headers={"Origin": origin}) as resp:
            assert "40/visitor," in await resp.text()
        async with http.get(base + "&j=0") as resp:
            assert resp.status == 400 and "___eio" not in await resp.text()
