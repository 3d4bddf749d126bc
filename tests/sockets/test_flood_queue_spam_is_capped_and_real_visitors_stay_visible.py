"""Queue spam: many fake chat requests from many connections and addresses.

Per-address limits cap what each address can put into the queue however many connections it
opens; the queue cap bounds the whole queue; counsellors always see the waiting visitors
oldest first, so visitors who came before a spam wave stay at the top; and the optional
proof of work (``CHATSERVER_CHALLENGE_BITS``) makes every queue slot cost the requester.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import socketio
from pytest_aiohttp import AiohttpServer

from chatserver.config import Config
from chatserver.main import create_app
from chatserver.sockets.challenge import solve, work
from chatserver.web.appkeys import CONFIG
from tests.support.clients import VisitorClient, random_ct
from tests.support.hardening import AddressedVisitor, RawSocket
from tests.support.harness import Harness

pytestmark = pytest.mark.hardening

SPAM_ADDRESSES = [f"127.0.0.{30 + i}" for i in range(8)]
CONNECTIONS_PER_ADDRESS = 12


async def serve(make_config: Callable[..., Config], aiohttp_server: Callable[..., Any],
                production_limits: bool = True, **overrides: Any) -> Harness:
    # Production request limits, unlike the rest of the suite.
    defaults = {name: getattr(Config, name) for name in (
        "chat_requests_per_min", "addr_connects_per_min", "addr_requests_per_min")
        if production_limits}
    server: AiohttpServer = await aiohttp_server(create_app(make_config(**{**defaults,
                                                                          **overrides})))
    return Harness(server.app, str(server.make_url("/")))


@pytest.fixture
async def opened() -> AsyncIterator[list[VisitorClient]]:
    clients: list[VisitorClient] = []
    yield clients
    for client in clients:
        await client.disconnect()


async def waiting_visitor(url: str, address: str,
                          opened: list[VisitorClient]) -> AddressedVisitor:
    """A real visitor from ``address`` who asked for a chat and waits in the queue."""
    visitor = AddressedVisitor(url, address)
    opened.append(visitor)
    await visitor.connect()
    assert (await visitor.request())["ok"]
    return visitor


async def spam(url: str, addresses: list[str], per_address: int,
               opened: list[VisitorClient]) -> dict[str, int]:
    """Each address opens connection after connection and asks for a chat on each."""
    outcome: dict[str, int] = {}
    for address in addresses:
        for _ in range(per_address):
            client = AddressedVisitor(url, address)
            try:
                await client.connect()
            except socketio.exceptions.ConnectionError:
                outcome["connect_refused"] = outcome.get("connect_refused", 0) + 1
                continue
            opened.append(client)
            answer = await client.request()
            code = "ok" if answer.get("ok") else answer["error"]
            outcome[code] = outcome.get(code, 0) + 1
    return outcome


async def test_each_address_gets_a_few_slots_and_early_visitors_stay_first(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any],
    opened: list[VisitorClient],
) -> None:
    h = await serve(make_config, aiohttp_server)
    try:
        hanna = await h.counsellor("hanna", "Hanna")
        early = await waiting_visitor(h.url, "127.0.0.2", opened)
        started = time.monotonic()
        outcome = await spam(h.url, SPAM_ADDRESSES, CONNECTIONS_PER_ADDRESS, opened)
        late = await waiting_visitor(h.url, "127.0.0.3", opened)

        # What one address may queue: its burst, plus what refilled while the test ran.
        config = h.app[CONFIG]
        per_address = max(3.0, config.addr_requests_per_min / 3) + \
            config.addr_requests_per_min / 60 * (time.monotonic() - started)
        # Else the bound below could not fail: every connection would have had its slot.
        assert per_address < CONNECTIONS_PER_ADDRESS - 1, "the spam ran too slowly to test"
        assert outcome.get("ok", 0) <= int(len(SPAM_ADDRESSES) * per_address), outcome
        assert outcome.get("rate_limited", 0) + outcome.get("connect_refused", 0) >= \
            len(SPAM_ADDRESSES) * (CONNECTIONS_PER_ADDRESS - per_address) - 1, outcome
        queue = (await hanna.sync())["queue"]
        ids = [item["chat_id"] for item in queue]
        assert ids[0] == early.chat_id  # the oldest waiting visitor is on top
        assert late.chat_id in ids
        assert len(ids) == 2 + outcome.get("ok", 0)
    finally:
        await h.close()


async def test_the_queue_cap_holds_against_many_addresses(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any],
    opened: list[VisitorClient],
) -> None:
    h = await serve(make_config, aiohttp_server, queue_cap=20)
    try:
        hanna = await h.counsellor("hanna", "Hanna")
        early = await waiting_visitor(h.url, "127.0.0.2", opened)
        botnet = [f"127.0.1.{i}" for i in range(1, 41)]
        outcome = await spam(h.url, botnet, 1, opened)
        assert outcome.get("ok", 0) == 19 and outcome.get("queue_full", 0) == 21, outcome
        queue = (await hanna.sync())["queue"]
        assert len(queue) == 20 and queue[0]["chat_id"] == early.chat_id
    finally:
        await h.close()


async def test_proof_of_work_is_required_once_per_costly_request(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any],
) -> None:
    bits = 12
    h = await serve(make_config, aiohttp_server, production_limits=False, challenge_bits=bits)
    try:
        visitor = await h.visitor()
        assert (await visitor.request())["error"] == "challenge"
        first = await visitor.call("challenge", {})
        assert first["ok"] and first["bits"] == bits and not first["credited"]
        # A wrong proof, and a proof for someone else's nonce, are refused.
        wrong = next(str(n) for n in range(10**6) if work(first["nonce"], str(n)) < bits)
        assert (await visitor.call("challenge", {"proof": wrong}))["error"] == "challenge"
        other = await h.visitor()
        foreign = (await other.call("challenge", {}))["nonce"]
        again = (await visitor.call("challenge", {}))["nonce"]
        foreign_proof = solve(foreign, bits)
        if work(again, foreign_proof) < bits:
            assert (await visitor.call("challenge", {"proof": foreign_proof}))["error"] == \
                "challenge"
            again = (await visitor.call("challenge", {}))["nonce"]
        # The right proof buys exactly one costly request.
        proof = solve(again, bits)
        assert (await visitor.call("challenge", {"proof": proof}))["credited"] is True
        assert (await visitor.call("challenge", {"proof": proof}))["error"] == "challenge"
        assert (await visitor.request())["ok"]
        codename = {"codename": "nicht vorhandene worte aus dem beutel hier"}
        lookup = {"lookup": random_ct(32)}
        assert (await other.call("return", codename))["error"] == "challenge"
        assert (await other.call("drop_check", lookup))["error"] == "challenge"
        third = await h.visitor()
        nonce = (await third.call("challenge", {}))["nonce"]
        assert (await third.call("challenge", {"proof": solve(nonce, bits)}))["ok"]
        assert (await third.call("drop_check", lookup))["error"] == "not_found"
        assert (await third.call("drop_check", lookup))["error"] == "challenge"
    finally:
        await h.close()


async def test_without_challenge_bits_nothing_changes(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any],
) -> None:
    h = await serve(make_config, aiohttp_server)
    try:
        visitor = await h.visitor()
        assert (await visitor.call("challenge", {}))["bits"] == 0
        assert (await visitor.request())["ok"]
    finally:
        await h.close()


@pytest.mark.parametrize("side", ["visitor", "counsellor"])
async def test_a_socket_refused_again_and_again_is_closed(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any], side: str
) -> None:
    """Per-connection strikes: answering a flood forever would cost more than closing it."""
    h = await serve(make_config, aiohttp_server, production_limits=False, strike_limit=40)
    try:
        healthy = await h.visitor()
        if side == "visitor":
            abuser: Any = await h.visitor()
            garbage: dict[str, Any] = {"seq": "x", "ct": 5}
        else:
            abuser = await h.counsellor("mallory", "Mallory", on_duty=False)
            garbage = {"chat_id": "x"}
        answers = []
        for _ in range(45):
            if not abuser.connected:
                break
            try:
                answers.append(await abuser.call("send", garbage, timeout=1))
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                break
        # The 41st refusal closes the socket; its answer may not make it out any more.
        assert len(answers) in (40, 41) and all(a["error"] == "invalid" for a in answers)
        assert not abuser.connected
        # Someone else's socket is not affected.
        assert (await healthy.request())["ok"]
    finally:
        await h.close()


async def test_spoofed_connect_and_disconnect_events_cannot_reset_the_limits(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any],
) -> None:
    """python-socketio hands a client *event* named connect/disconnect to on_connect and
    on_disconnect: a fake disconnect would forget the socket's buckets, a fake connect would
    bring its own REMOTE_ADDR. Such events end the socket's namespace instead, and joining
    again gets no fresh bucket: the address's is the same."""
    h = await serve(make_config, aiohttp_server)
    try:
        raw = RawSocket(h.url, address="127.0.0.40")
        await raw.open()
        await raw.send("40/visitor,")

        async def resume(ack: int, within: float = 2.0) -> str:
            await raw.send(f'42/visitor,{ack}["resume",{{"token":"{"z" * 32}"}}]')
            frame = await raw.answer(f"43/visitor,{ack}[", within)
            if frame is None:
                return "no answer"
            return str(json.loads(frame[frame.index("["):])[0]["error"])

        answers = [await resume(n) for n in range(4)]
        assert answers == ["not_found"] * 3 + ["rate_limited"]
        await raw.send('42/visitor,["disconnect","client namespace disconnect"]')
        await raw.send('42/visitor,["connect",{"REMOTE_ADDR":"10.9.8.7"},null]')
        # The namespace is left: nothing there answers any more.
        assert await resume(9, within=0.5) == "no answer"
        # Joining again is allowed, but the address's request bucket is as empty as before.
        await raw.send("40/visitor,")
        assert await raw.answer("40/visitor,{") is not None
        assert await resume(10) == "rate_limited"
        await raw.close()
    finally:
        await h.close()
