"""The console's cookies follow configuration, never the request: behind TLS (the default for
any public origin but plain-http loopback) they are ``__Host-`` cookies with ``Secure``, path
``/`` and no domain; for ``make run`` on http://127.0.0.1 plain ones under ``/console/``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from http.cookies import SimpleCookie

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from chatserver.config import Config, load_config
from chatserver.main import create_app
from chatserver.web.appkeys import CONFIG, USERS
from tests.support.harness import Harness, totp_of

PASSWORD = "ein-langes-passwort"


@pytest.mark.parametrize(("origins", "secure"), [
    ("https://chat.example.org", True),
    ("https://chat.example.org,http://abcdefghijklmnop.onion", True),
    ("http://chat.internal", True),
    ("http://127.0.0.1:8080,http://localhost:8080", False),
    ("http://[::1]:8080", False),
])
def test_secure_cookies_by_default_unless_plain_http_on_loopback(origins: str,
                                                                 secure: bool) -> None:
    env = {"CHATSERVER_PUBLIC_ORIGINS": origins, "CHATSERVER_TRUSTED_PROXIES": "127.0.0.1"}
    assert load_config(env).secure_cookies is secure
    assert load_config({**env, "CHATSERVER_SECURE_COOKIES": str(not secure)}).secure_cookies \
        is not secure


@pytest.fixture(params=[True, False], ids=["secure", "plain"])
async def server(request: pytest.FixtureRequest,
                 make_config: Callable[..., Config]) -> AsyncIterator[Harness]:
    server = TestServer(create_app(make_config(secure_cookies=request.param)))
    await server.start_server()
    yield Harness(server.app, str(server.make_url("/")))
    await server.close()


def cookies_of(resp: aiohttp.ClientResponse) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


async def test_every_console_cookie_has_the_configured_name_and_attributes(
    server: Harness,
) -> None:
    secure = server.app[CONFIG].secure_cookies
    prefix, path = ("__Host-", "/") if secure else ("", "/console/")
    uri = await server.app[USERS].add("akeller", "counsellor", PASSWORD, "Anna")
    # A Host header of a public name changes nothing: configuration decides.
    headers = {"Host": "chat.example.org" if not secure else "127.0.0.1"}
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "/console/login", headers=headers) as resp:
            login = cookies_of(resp)[prefix + "ek_login"]
            html = await resp.text()
        csrf = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        async with http.post(server.url + "/console/login", allow_redirects=False,
                             headers={**headers, "Cookie": f"{prefix}ek_login={csrf}"},
                             data={"csrf": csrf, "name": "akeller", "password": PASSWORD,
                                   "totp": totp_of(uri).now()}) as resp:
            assert resp.status == 303
            set_now = cookies_of(resp)
        session = set_now[prefix + "ek_console"]
        for cookie in (login, session, set_now[prefix + "ek_login"]):  # the last one expires
            assert cookie["path"] == path and not cookie["domain"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            assert bool(cookie["secure"]) is secure
        assert set_now[prefix + "ek_login"]["max-age"] == "0"

        # The session answers to its own name; behind TLS not to the name without the
        # prefix, which another host of the domain could set.
        names = [(prefix + "ek_console", 200)] + ([("ek_console", 303)] if secure else [])
        for name, status in names:
            async with http.get(server.url + "/console/", allow_redirects=False,
                                headers={"Cookie": f"{name}={session.value}"}) as resp:
                assert resp.status == status, name
        # Logging out expires the cookie with the same attributes (a browser ignores the
        # expiry of a __Host- cookie without them).
        cookie = {"Cookie": f"{prefix}ek_console={session.value}"}
        async with http.get(server.url + "/console/", headers=cookie) as resp:
            page_csrf = (await resp.text()).split('data-csrf="', 1)[1].split('"', 1)[0]
        async with http.post(server.url + "/console/logout", allow_redirects=False,
                             headers=cookie, data={"csrf": page_csrf}) as resp:
            assert resp.status == 303
            gone = cookies_of(resp)[prefix + "ek_console"]
        assert gone["max-age"] == "0" and gone["path"] == path
        assert bool(gone["secure"]) is secure and gone["httponly"]
