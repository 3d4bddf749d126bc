"""Passkey policy and hygiene (issue 15): with CHATSERVER_REQUIRE_PASSKEY an account that has a
passkey no longer signs in with a one-time code (said only to whoever knows the password, and
the code is not used up), and one without is sent to register one before it reaches the
console or a socket token; the setting needs a relying party. Adding a further passkey to an
account that has one needs one of its own passkeys confirmed (password and code alone are
refused), whatever the setting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from chatserver.config import Config, ConfigError, load_config
from chatserver.web.appkeys import USERS
from tests.support.authenticator import SoftAuthenticator, b64url
from tests.support.harness import totp_of
from tests.support.passkeys import login_csrf, origin_of, passkey_server, register, sign_in

PASSWORD = "ein-langes-passwort"
REQUIRED = "Für dieses Konto ist ein Passkey vorgeschrieben"
FAILED = "Anmeldung fehlgeschlagen."


def client(n: int, **kwargs: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 headers={"X-Real-IP": f"10.0.1.{n}"}, **kwargs)


async def code_login(http: aiohttp.ClientSession, url: str, name: str, password: str,
                     code: str) -> tuple[int, str, str]:
    csrf = await login_csrf(http, url)
    async with http.post(url + "/console/login", allow_redirects=False, data={
            "csrf": csrf, "name": name, "password": password, "totp": code}) as resp:
        return resp.status, resp.headers.get("Location", ""), await resp.text()


def test_the_policy_needs_a_relying_party() -> None:
    # Only addresses, which cannot be a relying party: nobody could sign in.
    with pytest.raises(ConfigError, match="CHATSERVER_REQUIRE_PASSKEY"):
        load_config({"CHATSERVER_REQUIRE_PASSKEY": "true",
                     "CHATSERVER_PUBLIC_ORIGINS": "http://127.0.0.1:8080"})
    with pytest.raises(ConfigError, match="CHATSERVER_REQUIRE_PASSKEY"):
        load_config({"CHATSERVER_REQUIRE_PASSKEY": "maybe"})
    config = load_config({"CHATSERVER_REQUIRE_PASSKEY": "yes",
                          "CHATSERVER_PUBLIC_ORIGINS": "https://console.example.org",
                          "CHATSERVER_TRUSTED_PROXIES": "127.0.0.1"})
    assert config.require_passkey and config.passkey_rp_id == "console.example.org"


async def test_with_the_policy_a_passkey_replaces_the_code_and_without_one_it_is_asked_for(
        make_config: Callable[..., Config]) -> None:
    async with passkey_server(make_config, trusted_proxies=("127.0.0.1",),
                              require_passkey=True) as h:
        users = h.app[USERS]
        totp = totp_of(await users.add("akeller", "counsellor", PASSWORD, pseudonym="Anna"))

        # No passkey yet: the code signs in, but only to the account page, and no socket.
        async with client(1) as http:
            status, location, _ = await code_login(http, h.url, "akeller", PASSWORD,
                                                   totp.at(time.time() - 30))
            assert (status, location) == (303, "/console/")
            async with http.get(h.url + "/console/", allow_redirects=False) as resp:
                assert (resp.status, resp.headers["Location"]) == (303, "/console/account")
            async with http.get(h.url + "/console/account") as resp:
                assert "ein Passkey vorgeschrieben: bitte registrieren Sie jetzt einen" in \
                    await resp.text()
        session = await users.open_session("akeller", time.time())
        headers = {"X-CSRF-Token": session.csrf}
        async with aiohttp.ClientSession(cookies={"ek_console": session.key}) as http:
            async with http.post(h.url + "/console/api/socket-token", headers=headers,
                                 json={}) as resp:
                assert resp.status == 403 and "passkey" in await resp.text()
            for path in ("/console/api/keys", "/console/api/canned"):
                async with http.get(h.url + path) as resp:
                    assert resp.status == 403 and "passkey" in await resp.text(), path
            auth = SoftAuthenticator(origin_of(h))
            await register(http, h.url, session.csrf, PASSWORD, totp.now(), auth)
            async with http.get(h.url + "/console/", allow_redirects=False) as resp:
                assert resp.status == 200
            async with http.post(h.url + "/console/api/socket-token", headers=headers,
                                 json={}) as resp:
                assert resp.status == 200
            async with http.get(h.url + "/console/api/keys") as resp:
                assert resp.status == 200

        # A supervisor without a passkey is sent from the statistics to the account page too.
        await users.add("csommer", "supervisor", PASSWORD, pseudonym="Frau Sommer")
        boss = await users.open_session("csommer", time.time())
        async with aiohttp.ClientSession(cookies={"ek_console": boss.key}) as http, \
                http.get(h.url + "/console/stats", allow_redirects=False) as resp:
            assert (resp.status, resp.headers["Location"]) == (303, "/console/account")

        # With a passkey the code no longer signs in: said once the password is right, and
        # the code stays unused (it would still work if the policy were lifted).
        code = totp.at(time.time() + 30)
        async with client(2) as http:
            status, _, text = await code_login(http, h.url, "akeller", PASSWORD, code)
            assert status == 401 and REQUIRED in text
        async with client(3) as http:
            status, _, text = await code_login(http, h.url, "akeller", "falsch-falsch-f", code)
            assert status == 401 and FAILED in text and REQUIRED not in text
        async with client(4) as http:
            status, location, _ = await sign_in(http, h.url, "akeller", PASSWORD, auth)
            assert (status, location) == (303, "/console/")
        # Lifted (as if the server restarted without it), the very same code signs in: the
        # refusal above did not use it up.
        users.require_passkey = False
        async with client(5) as http:
            status, location, _ = await code_login(http, h.url, "akeller", PASSWORD, code)
            assert (status, location) == (303, "/console/")


async def test_without_the_policy_the_code_still_signs_in_beside_a_passkey(
        make_config: Callable[..., Config]) -> None:
    async with passkey_server(make_config, trusted_proxies=("127.0.0.1",)) as h:
        users = h.app[USERS]
        totp = totp_of(await users.add("akeller", "counsellor", PASSWORD, pseudonym="Anna"))
        session = await users.open_session("akeller", time.time())
        async with aiohttp.ClientSession(cookies={"ek_console": session.key}) as http:
            await register(http, h.url, session.csrf, PASSWORD, totp.now(),
                           SoftAuthenticator(origin_of(h)))
        async with client(6) as http:
            status, location, _ = await code_login(http, h.url, "akeller", PASSWORD,
                                                   totp.at(time.time() + 30))
            assert (status, location) == (303, "/console/")


async def test_a_further_passkey_needs_one_of_the_accounts_own_passkeys(
        make_config: Callable[..., Config]) -> None:
    async with passkey_server(make_config, trusted_proxies=("127.0.0.1",)) as h:
        users = h.app[USERS]
        totp = totp_of(await users.add("akeller", "counsellor", PASSWORD, pseudonym="Anna"))
        totp_of(await users.add("bschmidt", "counsellor", PASSWORD, pseudonym="Ben"))
        anna = await users.open_session("akeller", time.time())
        ben = await users.open_session("bschmidt", time.time())
        laptop, phone = SoftAuthenticator(origin_of(h)), SoftAuthenticator(origin_of(h))
        headers = {"X-CSRF-Token": anna.csrf}
        options = h.url + "/console/api/passkeys/options"
        async with aiohttp.ClientSession(cookies={"ek_console": anna.key}) as http:
            # Nothing to confirm with yet: the code does it for the first.
            async with http.post(h.url + "/console/api/passkeys/confirm", headers=headers,
                                 json={}) as resp:
                assert resp.status == 404
            await register(http, h.url, anna.csrf, PASSWORD, totp.now(), laptop)

            # Password and a fresh code no longer add one: refused, the code not used up.
            code = totp.at(time.time() + 30)
            async with http.post(options, headers=headers,
                                 json={"password": PASSWORD, "totp": code}) as resp:
                assert resp.status == 403 and "confirm with one of its passkeys" in \
                    await resp.text()

            async def confirm_with(auth: SoftAuthenticator, password: str = PASSWORD
                                   ) -> aiohttp.ClientResponse:
                async with http.post(h.url + "/console/api/passkeys/confirm",
                                     headers=headers, json={}) as resp:
                    assert resp.status == 200
                    begun = await resp.json()
                assert [c["id"] for c in begun["options"]["allowCredentials"]] == \
                    [b64url(laptop.credentials[0].id)]
                answer = auth.get({**begun["options"], "rpId": "localhost"})
                async with http.post(options, headers=headers, json={
                        "password": password, "attempt": begun["attempt"],
                        "assertion": answer}) as resp:
                    await resp.read()
                    return resp

            # Another account's passkey, a wrong password, a passkey no account has: refused.
            async with aiohttp.ClientSession(cookies={"ek_console": ben.key}) as bens:
                await register(bens, h.url, ben.csrf, PASSWORD,
                               totp_of(await users.totp_uri("bschmidt")).now(), phone)
            assert (await confirm_with(phone)).status == 403
            assert (await confirm_with(laptop, "falsch-falsch-f")).status == 403
            # One of her own passkeys and her password: the new one is added.
            confirmed = await confirm_with(laptop)
            assert confirmed.status == 200
        # A confirmation answers once.
        async with aiohttp.ClientSession(cookies={"ek_console": anna.key}) as http:
            async with http.post(h.url + "/console/api/passkeys/confirm", headers=headers,
                                 json={}) as resp:
                begun = await resp.json()
            answer = laptop.get({**begun["options"], "rpId": "localhost"})
            body = {"password": PASSWORD, "attempt": begun["attempt"], "assertion": answer}
            async with http.post(options, headers=headers, json=body) as resp:
                assert resp.status == 200
                registration = await resp.json()
            async with http.post(options, headers=headers, json=body) as resp:
                assert resp.status == 409 and "used already" in await resp.text()
            tablet = SoftAuthenticator(origin_of(h))
            async with http.post(h.url + "/console/api/passkeys", headers=headers, json={
                    "attempt": registration["attempt"],
                    "credential": tablet.create(registration["options"]),
                    "label": "Tablet"}) as resp:
                assert resp.status == 201
            async with http.get(h.url + "/console/api/passkeys") as resp:
                assert [p["label"] for p in (await resp.json())["passkeys"]] == \
                    ["Laptop", "Tablet"]
