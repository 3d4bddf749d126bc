"""Per-connection rate limits answer ``rate_limited`` instead of relaying a flood."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_aiohttp import AiohttpServer

from chatserver.config import Config
from chatserver.main import create_app
from tests.support.clients import random_ct
from tests.support.harness import Harness


async def test_message_and_request_floods_are_limited(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any]
) -> None:
    config = make_config(msg_rate_per_s=1.0, msg_burst=5, chat_requests_per_min=1.0)
    server: AiohttpServer = await aiohttp_server(create_app(config))
    h = Harness(server.app, str(server.make_url("/")))
    try:
        anna = await h.counsellor("anna", "Anna")
        visitor = await h.visitor()
        assert (await visitor.request())["ok"]
        await anna.accept(visitor.chat_id)
        answers = [await visitor.send(random_ct()) for _ in range(12)]
        limited = [a for a in answers if a.get("error") == "rate_limited"]
        assert sum(1 for a in answers if a.get("ok")) <= 6 and len(limited) >= 6
        # A second connection asking for chats in a tight loop gets refused too.
        spammer = await h.visitor()
        assert (await spammer.request())["ok"]
        again = await h.visitor()
        await again.request()
        refused = [await again.call("resume", {"token": "z" * 32}) for _ in range(4)]
        assert any(r.get("error") == "rate_limited" for r in refused)
    finally:
        await h.close()


async def test_queue_cap_refuses_more_waiting_chats(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any], backend: str
) -> None:
    config = make_config(queue_cap=3, redis_url=backend)
    server: AiohttpServer = await aiohttp_server(create_app(config))
    h = Harness(server.app, str(server.make_url("/")))
    try:
        answers = []
        for _ in range(5):
            v = await h.visitor()
            answers.append(await v.request())
        assert [a.get("ok") for a in answers[:3]] == [True, True, True]
        assert [a.get("error") for a in answers[3:]] == ["queue_full", "queue_full"]
    finally:
        await h.close()


async def test_one_address_cannot_open_unlimited_connections_or_chats(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any]
) -> None:
    import socketio

    config = make_config(addr_connects_per_min=15.0, addr_requests_per_min=3.0)
    server: AiohttpServer = await aiohttp_server(create_app(config))
    h = Harness(server.app, str(server.make_url("/")))
    try:
        refused = 0
        requests = []
        for _ in range(12):
            try:
                v = await h.visitor()
            except socketio.exceptions.ConnectionError:
                refused += 1
                continue
            requests.append(await v.request())
        assert refused >= 5  # burst of 5 connects, then about one every 4 s
        assert sum(1 for r in requests if r.get("ok")) <= 3
        assert any(r.get("error") == "rate_limited" for r in requests)
    finally:
        await h.close()


def test_address_keys_are_keyed_hashes_that_change_per_process() -> None:
    from chatserver.sockets.ratelimit import AddressKeys

    one, two = AddressKeys(), AddressKeys()
    env = {"REMOTE_ADDR": "127.0.0.77"}
    assert one.key_for(env) == one.key_for(dict(env))
    assert one.key_for(env) != two.key_for(env)
    assert "127.0.0.77" not in one.key_for(env)
    # IPv6 clients are grouped by /64; X-Real-IP counts only from a trusted proxy.
    v6 = one.key_for({"REMOTE_ADDR": "2001:db8::1"})
    assert v6 == one.key_for({"REMOTE_ADDR": "2001:db8::2"})
    spoof = {"REMOTE_ADDR": "127.0.0.77", "HTTP_X_REAL_IP": "10.9.9.9"}
    assert one.key_for(spoof) == one.key_for(env)
    proxied = AddressKeys(("127.0.0.1",))
    assert proxied.key_for({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "10.9.9.9"}) == \
        proxied.key_for({"REMOTE_ADDR": "10.9.9.9"})
