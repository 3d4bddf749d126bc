"""Fixtures shared by the whole suite: config, throwaway Redis, a running server per backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from chatserver.config import Config, load_config
from chatserver.main import create_app
from tests.support.hardening import HealthyChat
from tests.support.harness import Harness
from tests.support.lossy_proxy import LossyProxy
from tests.support.redis_server import RedisServer

# Fast timings for tests; every protection stays on.
TEST_SETTINGS: dict[str, Any] = {
    "reaper_interval_s": 0.1,
    "visitor_grace_s": 1.0,
    "msg_rate_per_s": 50.0,
    "msg_burst": 100,
    "chat_requests_per_min": 600.0,
    "addr_connects_per_min": 6000.0,
    "addr_requests_per_min": 6000.0,
    "addr_msgs_per_s": 1000.0,
    "kdf_cost": "min",
    # Garbage tests send hundreds of refused events on one socket on purpose.
    "strike_limit": 10_000,
    # Open around the clock, so that what the widget says does not hang on when a test runs;
    # tests of the office hours set their own, on a fake clock.
    "office_hours": "mon-sun 00:00-24:00",
}


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
async def proxy(redis_server: RedisServer) -> AsyncIterator[LossyProxy]:
    """The throwaway Redis, flushed, behind a proxy that can lose a reply."""
    redis_server.flush()
    lossy = LossyProxy(redis_server.port)
    await lossy.start()
    yield lossy
    await lossy.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run a test once against each state backend; returns the Redis URL or ''."""
    if request.param == "memory":
        return ""
    server: RedisServer = request.getfixturevalue("redis_server")
    server.flush()
    return server.url


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    def make(**overrides: Any) -> Config:
        settings = {"database_url": f"sqlite:///{tmp_path / 'test.sqlite3'}", **TEST_SETTINGS}
        settings.update(overrides)
        return load_config({}, **settings)

    return make


@pytest.fixture
async def harness(
    backend: str, make_config: Callable[..., Config]
) -> AsyncIterator[Harness]:
    """A real server on a free port, on each backend."""
    config = make_config(redis_url=backend)
    server = TestServer(create_app(config))
    await server.start_server()
    h = Harness(server.app, str(server.make_url("/")))
    yield h
    # Bounded: a client or handler that never finishes fails the test instead of hanging it.
    await asyncio.wait_for(h.close(), 20)
    await asyncio.wait_for(server.close(), 20)


@pytest.fixture
async def healthy_chat(harness: Harness) -> HealthyChat:
    """An accepted chat on ``harness`` that an attack must not disturb; the examples of a
    hypothesis test share it, as they share the server."""
    return await HealthyChat.open(harness)
