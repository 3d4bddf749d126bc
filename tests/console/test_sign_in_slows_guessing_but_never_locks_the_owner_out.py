"""Console sign-in: failures slow down further tries, per client and per name, but nobody can
lock an account against its owner; unknown, disabled and real accounts answer alike and in
the same time; failures are logged without an address or the name typed.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from chatserver.config import Config
from chatserver.main import create_app
from chatserver.records.throttle import ACCOUNT_POLICY, CLIENT_POLICY, Policy, Throttle
from chatserver.web.appkeys import USERS
from tests.support.harness import Harness, totp_of

PASSWORD = "ein-langes-passwort"
WRONG = "falsch-falsch-falsch"


@pytest.fixture
async def server(make_config: Callable[..., Config]) -> AsyncIterator[Harness]:
    """A server behind a (pretended) proxy on loopback, so each test picks client addresses
    with X-Real-IP; password hashing at a real cost, so that skipping it would show."""
    server = TestServer(create_app(make_config(trusted_proxies=("127.0.0.1",),
                                               kdf_cost="interactive")))
    await server.start_server()
    yield Harness(server.app, str(server.make_url("/")))
    await server.close()


async def attempt(h: Harness, client: str, name: str, password: str, code: str = "000000",
                  ) -> tuple[int, str, float]:
    """One sign-in through the form from ``client``; status, body and seconds taken."""
    headers = {"X-Real-IP": client}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(h.url + "/console/login", headers=headers) as resp:
            html = await resp.text()
        csrf = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        started = time.perf_counter()
        async with http.post(h.url + "/console/login", headers=headers, allow_redirects=False,
                             data={"csrf": csrf, "name": name, "password": password,
                                   "totp": code}) as resp:
            took = time.perf_counter() - started
            # Every page carries a fresh CSRF token; the rest must be the same.
            body = re.sub(r'name="csrf" value="[^"]*"', "", await resp.text())
            return resp.status, body, took


def test_delays_grow_to_a_cap_and_are_forgotten() -> None:
    policy = Policy(free=3, base_s=1.0, cap_s=15.0, forget_s=3600.0)
    assert [policy.delay(n) for n in range(1, 9)] == [0, 0, 1, 2, 4, 8, 15, 15]
    assert policy.delay(10**9) == 15.0
    throttle = Throttle(policy, max_keys=100)
    for _ in range(4):
        throttle.failed("k", 100.0)
    assert throttle.wait("k", 100.0) == 2.0 and throttle.wait("k", 101.5) == 0.5
    assert throttle.wait("k", 100.0 + 3601) == 0.0 and len(throttle) == 0  # forgotten
    for n in range(1000):  # a flood of made-up names stays within the bound
        throttle.failed(f"name-{n}", 200.0 + n)
    assert len(throttle) <= 100
    throttle.failed("k", 5000.0)
    throttle.succeeded("k")
    assert throttle.wait("k", 5000.0) == 0.0


async def test_a_guessing_client_is_refused_while_the_owner_gets_in(
    server: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    uri = await server.app[USERS].add("akeller", "counsellor", PASSWORD, "Anna")
    guesser, owner = "198.51.100.7", "203.0.113.9"
    # The guesser tries names; its own delay grows until it is refused at once.
    for n in range(CLIENT_POLICY.free + 6):
        status, body, _took = await attempt(server, guesser, f"name-{n}", WRONG)
        if status == 429:
            break
        assert status == 401
    assert status == 429 and "erneut versuchen" in body, "the guessing client was never refused"
    assert n >= CLIENT_POLICY.free, "refused before its free tries were used up"
    # Refused whatever it sends, the right password and code included.
    status, _body, _took = await attempt(server, guesser, "akeller", PASSWORD, totp_of(uri).now())
    assert status == 429
    # The owner, elsewhere, is not.
    status, _body, _took = await attempt(server, owner, "akeller", PASSWORD, totp_of(uri).now())
    assert status == 303

    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records
                     if r.name != "aiohttp.access")
    assert "console sign-in refused for an unknown name" in text
    for needle in (guesser, owner, "127.0.0.1", "name-1", WRONG, PASSWORD):
        assert needle not in text, needle


async def test_failures_on_a_name_hold_its_owner_back_but_never_lock_them_out(
    server: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures from many clients (no client throttle applies) hold the account back for a
    growing, capped time; the owner with password and code still gets in."""
    caplog.set_level(logging.INFO)
    uri = await server.app[USERS].add("akeller", "counsellor", PASSWORD, "Anna")
    failures = ACCOUNT_POLICY.free + 1
    for n in range(failures):
        status, _body, _took = await attempt(server, f"198.51.100.{10 + n}", "akeller", WRONG)
        assert status == 401
    status, _body, took = await attempt(server, "203.0.113.9", "akeller", PASSWORD,
                                        totp_of(uri).now())
    assert status == 303
    hold = ACCOUNT_POLICY.delay(failures)
    assert hold / 2 <= took <= ACCOUNT_POLICY.cap_s + 5, took
    text = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert f"{failures} failures in a row for this name" in text
    assert "akeller" not in text and "198.51.100" not in text


async def test_an_unknown_name_is_logged_without_what_was_typed(
    server: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    typed = "mein-passwort-im-falschen-feld"
    status, _body, _took = await attempt(server, "198.51.100.8", typed, WRONG)
    assert status == 401
    text = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "console sign-in refused for an unknown name" in text
    assert typed not in text and "198.51.100.8" not in text


@pytest.mark.timing
async def test_unknown_disabled_and_real_accounts_answer_alike_in_the_same_time(
    server: Harness,
) -> None:
    """Medians over several tries, each from its own client and on its own name, so that no
    throttle interferes. Generous bounds (a factor of three): skipping the password hash for
    one kind takes it to a twentieth. A round whose numbers a busy machine spoiled is
    measured again, up to three rounds."""
    tries = 7
    users = server.app[USERS]
    for n in range(3 * tries):
        await users.add(f"real-{n}", "counsellor", PASSWORD, f"Beraterin {n}")
    for n in range(3 * tries):
        await users.add(f"off-{n}", "counsellor", PASSWORD, f"Ehemalige {n}")
        await users.set_disabled(f"off-{n}", True)
    ratios: list[tuple[float, float]] = []
    for round_ in range(3):
        times: dict[str, list[float]] = {"unknown": [], "real": [], "disabled": []}
        bodies: set[str] = set()
        for n in range(tries):
            i = round_ * tries + n
            for kind, name in (("unknown", f"nobody-{i}"), ("real", f"real-{i}"),
                               ("disabled", f"off-{i}")):
                status, body, took = await attempt(server, f"198.51.{round_}.{n}{len(kind)}",
                                                   name, WRONG if kind != "disabled" else PASSWORD)
                assert status == 401, (kind, status)
                bodies.add(body)
                times[kind].append(took)
        assert len(bodies) == 1, "the answers differ"
        real = statistics.median(times["real"])
        ratio = (statistics.median(times["unknown"]) / real,
                 statistics.median(times["disabled"]) / real)
        ratios.append(ratio)
        if all(1 / 3 <= r <= 3 for r in ratio):
            return
    raise AssertionError(f"unknown/real and disabled/real medians: {ratios}")
