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
