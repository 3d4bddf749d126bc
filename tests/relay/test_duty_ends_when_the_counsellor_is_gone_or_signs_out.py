"""Presence on both backends: a counsellor whose consoles have all been gone for the duty
grace goes off duty, signing out ends duty at once, and either way their chats go back to the
front of the queue and their visitors hear that a colleague will take over."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer

from chatserver.config import Config
from chatserver.main import create_app
from chatserver.web.appkeys import RELAY, USERS
from tests.support.clients import CounsellorClient, VisitorClient
from tests.support.harness import Harness, totp_of
from tests.support.waiting import eventually

GRACE = 1.0
PASSWORD = "ein-langes-passwort"


@pytest.fixture
async def h(backend: str, make_config: Callable[..., Config]) -> AsyncIterator[Harness]:
    """A real server on each backend whose duty grace is short enough to wait out."""
    server = TestServer(create_app(make_config(redis_url=backend, duty_grace_s=GRACE)))
    await server.start_server()
    harness = Harness(server.app, str(server.make_url("/")))
    yield harness
    await harness.close()
    await server.close()


async def queued_visitor(h: Harness) -> VisitorClient:
    visitor = await h.visitor()
    assert (await visitor.request())["ok"]
    return visitor


async def available(h: Harness) -> bool:
    async with aiohttp.ClientSession() as http, \
            http.get(h.url + "/api/availability") as resp:
        return bool((await resp.json())["available"])


async def roster_and_queue(client: CounsellorClient) -> tuple[list[str], list[str]]:
    snap = await client.sync()
    return [r["id"] for r in snap["roster"]], [q["chat_id"] for q in snap["queue"]]


async def test_a_counsellor_gone_past_the_grace_goes_off_duty_and_chats_return_to_the_front(
    h: Harness,
) -> None:
    anna = await h.counsellor("anna", "Anna")
    ben = await h.counsellor("ben", "Ben")
    first, second = await queued_visitor(h), await queued_visitor(h)
    assert (await anna.accept(first.chat_id))["ok"]
    assert (await first.expect("accepted")) == {"pseudonym": "Anna"}
    third = await queued_visitor(h)
    assert (await roster_and_queue(ben))[1] == [second.chat_id, third.chat_id]

    await anna.disconnect()
    gone = time.monotonic()
    # Within the grace nothing changes: a reload or a short network loss costs nothing.
    roster, queue = await roster_and_queue(ben)
    assert sorted(roster) == ["anna", "ben"] and first.chat_id not in queue

    told = await first.expect("requeued", timeout=GRACE + 5)
    assert time.monotonic() - gone >= GRACE - 0.05
    assert told["position"] == 1 and told["available"] is True and told["estimate_s"] >= 1
    roster, queue = await roster_and_queue(ben)
    assert roster == ["ben"]
    assert queue == [first.chat_id, second.chat_id, third.chat_id]
    # The others moved one place down, and hear so.
    moved = await eventually(lambda: [q["position"] for q in third.drain("queue")],
                             until=lambda seen: 3 in seen, what="third's new place")
    assert moved[-1] == 3
    # A colleague takes the chat over; the visitor hears the new name and hands shake anew.
    accepted = await ben.accept(first.chat_id)
    assert accepted["ok"] and accepted["chat"]["next_seq"] == 1
    assert (await first.expect("accepted")) == {"pseudonym": "Ben"}


async def test_a_console_back_within_the_grace_keeps_duty_and_chats(h: Harness) -> None:
    anna = await h.counsellor("anna", "Anna")
    visitor = await queued_visitor(h)
    assert (await anna.accept(visitor.chat_id))["ok"]
    await anna.disconnect()
    again = CounsellorClient(h.url, anna.token)  # a reload: the same token, a new socket
    await again.connect()
    h.track(again)
    # Time passing is what this test is about: twice the grace, with the console back.
    await asyncio.sleep(2 * GRACE)
    snap = await again.sync()
    assert snap["on_duty"] is True
    assert [c["chat_id"] for c in snap["chats"]] == [visitor.chat_id]
    assert await visitor.nothing("requeued", within=0.1)
    assert await available(h)


async def test_the_last_of_two_consoles_counts(h: Harness) -> None:
    anna = await h.counsellor("anna", "Anna")
    second_tab = CounsellorClient(h.url, anna.token)
    await second_tab.connect()
    h.track(second_tab)
    await anna.disconnect()
    # Time passing on purpose: one console is still open, so duty goes on past the grace.
    await asyncio.sleep(2 * GRACE)
    assert (await second_tab.sync())["on_duty"] is True
    await second_tab.disconnect()
    await eventually(lambda: available(h), until=lambda up: not up,
                     timeout=GRACE + 5, what="availability to end after the last console")


async def sign_in(h: Harness, http: aiohttp.ClientSession, uri: str) -> tuple[str, str]:
    """The console's login (password and TOTP) as a browser does it; returns the session's
    CSRF token and a socket token."""
    async with http.get(h.url + "/console/login") as resp:
        login_csrf = http.cookie_jar.filter_cookies(resp.url)["ek_login"].value
    code = totp_of(uri).now()
    form = {"name": "akeller", "password": PASSWORD, "totp": code, "csrf": login_csrf}
    async with http.post(h.url + "/console/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 303
    async with http.get(h.url + "/console/") as resp:
        page = await resp.text()
    csrf = page.split('data-csrf="', 1)[1].split('"', 1)[0]
    async with http.post(h.url + "/console/api/socket-token", json={},
                         headers={"X-CSRF-Token": csrf}) as resp:
        token = (await resp.json())["token"]
    return csrf, token


async def test_signing_out_ends_duty_at_once_and_the_visitor_is_told(h: Harness) -> None:
    uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
    # unsafe: cookies from a server addressed by IP (127.0.0.1), as a browser keeps them.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf, token = await sign_in(h, http, uri)
        anna = CounsellorClient(h.url, token)
        await anna.connect()
        h.track(anna)
        assert (await anna.duty(True))["ok"]
        visitor, waiting = await queued_visitor(h), await queued_visitor(h)
        assert (await anna.accept(visitor.chat_id))["ok"]
        await visitor.expect("accepted")
        assert await available(h)

        async with http.post(h.url + "/console/logout", data={"csrf": csrf},
                             allow_redirects=False) as resp:
            assert resp.status == 303

    # At once: no grace, no reaper pass.
    assert not await available(h)
    told = await visitor.expect("requeued", timeout=1)
    assert told == {"position": 1, "estimate_s": told["estimate_s"], "available": False}
    update = await waiting.expect("queue", timeout=1)
    while update["position"] != 2:
        update = await waiting.expect("queue", timeout=1)
    assert update["available"] is False
    assert (await anna.expect("unassigned", timeout=1)) == {"chat_id": visitor.chat_id}
    assert (await anna.expect("off_duty", timeout=1)) == {"reason": "signed_out"}
    # The old socket cannot go back on duty: its token went with the sign-out, and the
    # server closes it instead of answering.
    # (The nodes' session check may have closed it already: its session ended.)
    with contextlib.suppress(socketio.exceptions.TimeoutError,
                             socketio.exceptions.BadNamespaceError):
        await anna.call("duty", {"on": True}, timeout=1)
    await eventually(lambda: not anna.connected, what="the signed-out socket to be closed")
    assert not await available(h)
    queue = [c.id for c in await h.app[RELAY].state.queued()]
    assert queue == [visitor.chat_id, waiting.chat_id]


async def test_a_reserved_return_goes_to_any_colleague_once_its_counsellor_left(
    h: Harness,
) -> None:
    anna = await h.counsellor("anna", "Anna")
    ben = await h.counsellor("ben", "Ben")
    relay = h.app[RELAY]
    back, _, _ = await relay.request_chat("return", "de", record_id="rec1", preferred="anna")
    refused = await ben.accept(back.id)
    assert refused["error"] == "reserved"
    await anna.disconnect()
    await eventually(lambda: roster_and_queue(ben), until=lambda rq: rq[0] == ["ben"],
                     timeout=GRACE + 5, what="Anna to go off duty")
    # Anna is back and on duty again, but the reservation is gone: her colleague may take it.
    anna_again = CounsellorClient(h.url, anna.token)
    await anna_again.connect()
    h.track(anna_again)
    assert (await anna_again.duty(True))["ok"]
    taken = await ben.accept(back.id)
    assert taken["ok"] and taken["chat"]["record_id"] == "rec1"
    assert taken["chat"]["preferred"] == ""
