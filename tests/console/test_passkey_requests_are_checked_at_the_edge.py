"""Every passkey request is checked for shape and size before anything else: malformed JSON,
wrong types, oversize bodies and extension results (a PRF output must never reach the server)
get a 400 that says what is wrong; the login form says it in German too. Missing CSRF tokens
get 403; the relying party comes from configuration, whatever Host header a request carries."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import aiohttp

from chatserver.config import Config
from chatserver.web.appkeys import USERS
from tests.support.authenticator import SoftAuthenticator
from tests.support.harness import totp_of
from tests.support.passkeys import (
    begin_sign_in,
    login_csrf,
    origin_of,
    passkey_server,
    post_login,
)

PASSWORD = "ein-langes-passwort"
MALFORMED = "Die Antwort des Passkeys war fehlerhaft"


async def test_the_login_form_refuses_a_malformed_passkey_answer(
        make_config: Callable[..., Config]) -> None:
    async with passkey_server(make_config) as h:
        await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        auth = SoftAuthenticator(origin_of(h))
        auth.create({"rp": {"id": "localhost"}, "user": {"id": "YWtlbGxlcg"},
                     "challenge": "AAAA"})
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            csrf, attempt, options = await begin_sign_in(http, h.url)
            good = auth.get(options)
            prf = {**good, "clientExtensionResults": {"prf": {"results": {"first": "A" * 43}}}}
            wrong_type = {**good, "response": {**good["response"], "signature": 5}}
            cases = {
                "{not json": "must be a JSON object",
                "[1, 2]": "Expected `object`",
                json.dumps({**good, "id": 5}): "$.id",
                json.dumps(wrong_type): "$.response.signature",
                json.dumps({**good, "type": "password"}): "$.type",
                json.dumps({**good, "rawId": "x" * 20_000}): "at most",
                json.dumps(prf): "$.clientExtensionResults",
                json.dumps({**good, "extra": 1}): "unknown field",
                json.dumps({**good, "rawId": good["id"][:-2] + "AA"}): "id and rawId differ",
            }
            for body, says in cases.items():
                csrf = await login_csrf(http, h.url)
                status, _, text = await post_login(http, h.url, csrf, "akeller", PASSWORD,
                                                   attempt, body)
                assert status == 400 and MALFORMED in text and says in text, (body[:40], text)
            for bad_attempt in ("", "kurz", "ä" * 40):
                csrf = await login_csrf(http, h.url)
                status, _, text = await post_login(http, h.url, csrf, "akeller", PASSWORD,
                                                   bad_attempt, good)
                assert status == 400 and "attempt" in text, bad_attempt
            # Nothing of it used the attempt up: the well-formed answer still goes through the
            # checks (and fails them, since no account has this passkey).
            csrf = await login_csrf(http, h.url)
            status, _, text = await post_login(http, h.url, csrf, "akeller", PASSWORD,
                                               attempt, good)
            assert status == 401 and "nicht (mehr) für die Anmeldung registriert" in text


async def test_sign_in_options_need_the_login_pages_token_and_name_the_configured_party(
        make_config: Callable[..., Config]) -> None:
    async with passkey_server(make_config) as h, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(h.url + "/console/login/passkey") as resp:
            assert resp.status == 403
        async with http.post(h.url + "/console/login/passkey",
                             headers={"X-CSRF-Token": "falsch"}) as resp:
            assert resp.status == 403
        csrf, _, _ = await begin_sign_in(http, h.url)
        async with http.post(h.url + "/console/login/passkey", headers={
                "X-CSRF-Token": csrf, "Host": "evil.example"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["options"]["rpId"] == "localhost"


async def test_passkey_api_routes_refuse_garbage_with_a_clear_400(
        make_config: Callable[..., Config]) -> None:
    async with passkey_server(make_config) as h:
        users = h.app[USERS]
        totp = totp_of(await users.add("akeller", "counsellor", PASSWORD, pseudonym="Anna"))
        session = await users.open_session("akeller", time.time())
        headers = {"X-CSRF-Token": session.csrf, "Content-Type": "application/json"}
        garbage = {
            b"{not json": "must be a JSON object",
            b"\xff": "must be a JSON object",
            b"[1, 2]": "Expected `object`",
            b'{"password": 5, "totp": "123456"}': "$.password",
            b'{"password": "x", "totp": 123456}': "$.totp",
            b'{"password": "x", "totp": "123456", "more": 1}': "unknown field",
            b'{"password": "' + b"x" * 20_000 + b'", "totp": "123456"}': "at most",
        }
        async with aiohttp.ClientSession(cookies={"ek_console": session.key}) as http:
            for path in ("/console/api/passkeys/options", "/console/api/passkeys"):
                for body, says in garbage.items():
                    if path.endswith("/passkeys") and says.startswith("$."):
                        says = "Invalid body"  # a registration has no password field
                    async with http.post(h.url + path, data=body, headers=headers) as resp:
                        text = await resp.text()
                        assert resp.status == 400 and says in text, (path, body[:30], text)
                async with http.post(h.url + path, json={}) as resp:
                    assert resp.status == 403, path  # no CSRF token
            auth = SoftAuthenticator(origin_of(h))
            credential = auth.create({"rp": {"id": "localhost"}, "user": {"id": "eA"},
                                      "challenge": "AAAA"})
            for body in ({"attempt": "A" * 43, "credential": {**credential, "type": 1}},
                         {"attempt": "A" * 43, "credential": {
                             **credential, "clientExtensionResults": {"prf": {"enabled": True}}}},
                         {"attempt": 5, "credential": credential},
                         {"attempt": "A" * 43, "credential": credential, "label": "x" * 65}):
                async with http.post(h.url + "/console/api/passkeys", json=body,
                                     headers=headers) as resp:
                    assert resp.status == 400 and "Invalid body" in await resp.text(), body
            # Well formed, but no registration was begun under this attempt.
            async with http.post(h.url + "/console/api/passkeys", headers=headers, json={
                    "attempt": "A" * 43, "credential": credential}) as resp:
                assert resp.status == 409
            for cred_id, status in (("kurz", 400), ("ä" * 20, 400), ("A" * 1401, 400),
                                    ("A" * 43, 404)):
                async with http.delete(h.url + "/console/api/passkeys/" + cred_id,
                                       headers=headers) as resp:
                    assert resp.status == status, cred_id
            async with http.delete(h.url + "/console/api/passkeys/" + "A" * 43) as resp:
                assert resp.status == 403  # no CSRF token
        # Nothing of it left a passkey behind, and the code still works.
        assert await users.passkeys.listing(session.user.id) == []
        assert (await users.login("akeller", PASSWORD, totp.now(), time.time())).user.name \
            == "akeller"


async def test_one_client_begins_only_so_many_passkey_sign_ins(
        make_config: Callable[..., Config]) -> None:
    """Each begun sign-in holds a challenge for two minutes: one client may begin ten at once,
    then one every six seconds, so nobody fills the pending challenges for everyone."""
    async with passkey_server(make_config, trusted_proxies=("127.0.0.1",)) as h:
        statuses = {}
        for who in ("10.0.0.1", "10.0.0.2"):
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             headers={"X-Real-IP": who}) as http:
                csrf = await login_csrf(http, h.url)
                got = []
                for _ in range(12 if who == "10.0.0.1" else 1):
                    async with http.post(h.url + "/console/login/passkey",
                                         headers={"X-CSRF-Token": csrf}) as resp:
                        got.append(resp.status)
                statuses[who] = got
        assert statuses["10.0.0.1"] == [200] * 10 + [429, 429]
        assert statuses["10.0.0.2"] == [200]
