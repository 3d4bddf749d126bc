"""A passkey as the second sign-in factor (py_webauthn on the server, a software authenticator
here): registered after password and one-time code are confirmed, it signs in instead of the
code, which keeps working beside it. Each challenge answers once: a replayed answer is refused
in German, and so is a passkey no account has; a wrong password, another account's name, an
origin taken from the Host header or a counter that went back are refused like any failed
sign-in. Owners list and remove their passkeys; disabling or resetting an account removes
them all."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import sqlalchemy as sa

from chatserver.config import Config
from chatserver.records.schema import passkeys
from chatserver.web.appkeys import USERS
from tests.support.authenticator import SoftAuthenticator
from tests.support.harness import Harness, totp_of
from tests.support.passkeys import (
    begin_sign_in,
    login_csrf,
    origin_of,
    passkey_server,
    post_login,
    register,
    sign_in,
)

PASSWORD = "ein-langes-passwort"
REPLAYED = "abgelaufen oder wurde schon verwendet"
UNKNOWN = "nicht (mehr) für die Anmeldung registriert"
FAILED = "Anmeldung fehlgeschlagen."


def client(n: int) -> aiohttp.ClientSession:
    """A browser of its own (cookies, and an address the server's sign-in throttle tells
    apart, through the trusted proxy on loopback)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 headers={"X-Real-IP": f"10.0.0.{n}"})


async def stored(h: Harness, name: str) -> list[sa.Row[tuple[object, ...]]]:
    user = await h.app[USERS].find(name)
    assert user is not None
    async with h.app[USERS].engine.connect() as conn:
        return list(await conn.execute(sa.select(passkeys)
                                       .where(passkeys.c.user_id == user.id)))


async def test_a_passkey_signs_in_once_per_challenge_and_refuses_the_rest(
        make_config: Callable[..., Config]) -> None:
    async with passkey_server(make_config, trusted_proxies=("127.0.0.1",)) as h:
        users = h.app[USERS]
        totp = totp_of(await users.add("akeller", "counsellor", PASSWORD, pseudonym="Anna"))
        await users.add("bschmidt", "counsellor", PASSWORD, pseudonym="Ben")
        auth = SoftAuthenticator(origin_of(h))
        session = await users.open_session("akeller", time.time())
        async with aiohttp.ClientSession(cookies={"ek_console": session.key}) as http:
            cred_id = await register(http, h.url, session.csrf, PASSWORD, totp.now(), auth)
            async with http.get(h.url + "/console/api/passkeys") as resp:
                listed = (await resp.json())["passkeys"]
            assert [(p["id"], p["label"]) for p in listed] == [(cred_id, "Laptop")]
            async with http.get(h.url + "/console/account") as resp:
                assert "Laptop" in await resp.text()
        [row] = await stored(h, "akeller")
        assert row.sign_count == 0 and row.last_used is None

        async with client(1) as http:
            # Name, password and the passkey: in, without a one-time code.
            csrf, attempt, options = await begin_sign_in(http, h.url)
            assert options["rpId"] == "localhost" and options["allowCredentials"] == []
            answer = auth.get(options)
            status, location, _ = await post_login(http, h.url, csrf, "akeller", PASSWORD,
                                                   attempt, answer)
            assert (status, location) == (303, "/console/")
            async with http.get(h.url + "/console/api/keys") as resp:
                assert resp.status == 200
            [row] = await stored(h, "akeller")
            assert row.sign_count == 1 and row.last_used is not None

        # The same answer again (a replay): refused, said in German, nothing opened.
        async with client(2) as http:
            csrf = await login_csrf(http, h.url)
            status, _, text = await post_login(http, h.url, csrf, "akeller", PASSWORD,
                                               attempt, answer)
            assert status == 401 and REPLAYED in text
        # The old answer to a fresh challenge does not fit it.
        async with client(3) as http:
            csrf, attempt, _ = await begin_sign_in(http, h.url)
            status, _, text = await post_login(http, h.url, csrf, "akeller", PASSWORD,
                                               attempt, answer)
            assert status == 401 and FAILED in text

        # A passkey no account has: said so, in German.
        stranger = SoftAuthenticator(origin_of(h))
        stranger.create({"rp": {"id": "localhost"}, "user": {"id": "c3RyYW5nZXI"},
                         "challenge": "AAAA"})
        async with client(4) as http:
            status, _, text = await sign_in(http, h.url, "akeller", PASSWORD, stranger)
            assert status == 401 and UNKNOWN in text

        # The right passkey with a wrong password, or for another account: a plain failure
        # that says nothing of the passkey or the account.
        for n, (name, password) in enumerate((("akeller", "falsch-falsch-falsch"),
                                              ("bschmidt", PASSWORD), ("niemand", PASSWORD))):
            async with client(10 + n) as http:
                status, _, text = await sign_in(http, h.url, name, password, auth)
                assert status == 401 and FAILED in text and UNKNOWN not in text, name

        # Signed for the origin the request's Host header names, not the configured one.
        elsewhere = SoftAuthenticator(h.url)
        elsewhere.credentials = auth.credentials
        async with client(5) as http:
            status, _, text = await sign_in(http, h.url, "akeller", PASSWORD, elsewhere)
            assert status == 401 and FAILED in text

        # A counter that went back (a cloned authenticator) is refused.
        auth.credentials[-1].count = 0
        async with client(6) as http:
            status, _, text = await sign_in(http, h.url, "akeller", PASSWORD, auth)
            assert status == 401 and FAILED in text
            auth.credentials[-1].count = 10
            status, location, _ = await sign_in(http, h.url, "akeller", PASSWORD, auth)
            assert (status, location) == (303, "/console/")
        assert (await stored(h, "akeller"))[0].sign_count == 11

        # The one-time code still signs in beside the passkey.
        async with client(7) as http:
            csrf = await login_csrf(http, h.url)
            async with http.post(h.url + "/console/login", allow_redirects=False, data={
                    "csrf": csrf, "name": "akeller", "password": PASSWORD,
                    "totp": totp.at(time.time() + 30)}) as resp:
                assert resp.status == 303 and resp.headers["Location"] == "/console/"


async def test_owners_remove_their_passkeys_and_disable_or_reset_removes_them_all(
        make_config: Callable[..., Config]) -> None:
    async with passkey_server(make_config, trusted_proxies=("127.0.0.1",)) as h:
        users = h.app[USERS]
        totp = totp_of(await users.add("akeller", "counsellor", PASSWORD, pseudonym="Anna"))
        await users.add("bschmidt", "counsellor", PASSWORD, pseudonym="Ben")
        auth = SoftAuthenticator(origin_of(h))
        anna = await users.open_session("akeller", time.time())
        ben = await users.open_session("bschmidt", time.time())
        async with aiohttp.ClientSession(cookies={"ek_console": anna.key}) as http:
            cred_id = await register(http, h.url, anna.csrf, PASSWORD, totp.now(), auth)
        # Nobody else removes it: another account's DELETE finds nothing.
        async with aiohttp.ClientSession(cookies={"ek_console": ben.key}) as http, \
                http.delete(h.url + "/console/api/passkeys/" + cred_id,
                            headers={"X-CSRF-Token": ben.csrf}) as resp:
            assert resp.status == 404
        assert len(await stored(h, "akeller")) == 1
        # Its owner does; it then signs nobody in.
        async with aiohttp.ClientSession(cookies={"ek_console": anna.key}) as http:
            async with http.delete(h.url + "/console/api/passkeys/" + cred_id,
                                   headers={"X-CSRF-Token": anna.csrf}) as resp:
                assert resp.status == 200
            async with http.get(h.url + "/console/api/passkeys") as resp:
                assert (await resp.json())["passkeys"] == []
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            status, _, text = await sign_in(http, h.url, "akeller", PASSWORD, auth)
            assert status == 401 and UNKNOWN in text

        # Registered again, then the administrator disables the account: gone, and enabling
        # brings it not back.
        anna = await users.open_session("akeller", time.time())
        async with aiohttp.ClientSession(cookies={"ek_console": anna.key}) as http:
            await register(http, h.url, anna.csrf, PASSWORD, totp.at(time.time() + 30), auth)
        assert len(await stored(h, "akeller")) == 1
        await users.set_disabled("akeller", True)
        await users.set_disabled("akeller", False)
        assert await stored(h, "akeller") == []
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            status, _, text = await sign_in(http, h.url, "akeller", PASSWORD, auth)
            assert status == 401 and UNKNOWN in text

        # And a reset removes them too.
        ben = await users.open_session("bschmidt", time.time())
        ben_totp = totp_of(await users.totp_uri("bschmidt"))
        async with aiohttp.ClientSession(cookies={"ek_console": ben.key}) as http:
            await register(http, h.url, ben.csrf, PASSWORD, ben_totp.now(), auth, "Handy")
        assert len(await stored(h, "bschmidt")) == 1
        await users.reset("bschmidt", "ein-neues-langes-passwort")
        assert await stored(h, "bschmidt") == []


async def test_adding_a_passkey_needs_password_and_a_fresh_code(
        make_config: Callable[..., Config]) -> None:
    async with passkey_server(make_config, trusted_proxies=("127.0.0.1",)) as h:
        users = h.app[USERS]
        totp = totp_of(await users.add("akeller", "counsellor", PASSWORD, pseudonym="Anna"))
        session = await users.open_session("akeller", time.time())
        headers = {"X-CSRF-Token": session.csrf}
        async with aiohttp.ClientSession(cookies={"ek_console": session.key}) as http:
            for body in ({"password": "falsch-falsch-falsch", "totp": totp.now()},
                         {"password": PASSWORD, "totp": "000000"}):
                async with http.post(h.url + "/console/api/passkeys/options", headers=headers,
                                     json=body) as resp:
                    assert resp.status == 403, body
            code = totp.now()
            async with http.post(h.url + "/console/api/passkeys/options", headers=headers,
                                 json={"password": PASSWORD, "totp": code}) as resp:
                assert resp.status == 200
                begun = await resp.json()
            assert begun["options"]["rp"]["id"] == "localhost"
            assert begun["options"]["authenticatorSelection"]["userVerification"] == "required"
            # The same code a second time confirms nothing.
            async with http.post(h.url + "/console/api/passkeys/options", headers=headers,
                                 json={"password": PASSWORD, "totp": code}) as resp:
                assert resp.status == 403
            # The registration answers its challenge once.
            auth = SoftAuthenticator(origin_of(h))
            body = {"attempt": begun["attempt"], "credential": auth.create(begun["options"])}
            async with http.post(h.url + "/console/api/passkeys", headers=headers,
                                 json=body) as resp:
                assert resp.status == 201
            async with http.post(h.url + "/console/api/passkeys", headers=headers,
                                 json=body) as resp:
                assert resp.status == 409 and "used already" in await resp.text()
        assert len(await stored(h, "akeller")) == 1
