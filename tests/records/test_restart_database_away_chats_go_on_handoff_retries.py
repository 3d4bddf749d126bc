"""The database goes away mid-chat: the chat goes on (the relay never needs the database), the
hand-off answers a clear ``unavailable`` error, and the same hand-off succeeds once retried
after the database is back, creating exactly one record.

Two ways for the database to be away: SQLite locked exclusively by another process, and a
PostgreSQL database that refuses connections (``ALLOW_CONNECTIONS false``, backends ended).
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pytest_aiohttp import AiohttpServer

from chatserver.config import Config
from chatserver.main import create_app
from tests.support.clients import sealed_record
from tests.support.database import PG_ADMIN, pg_database, pg_url
from tests.support.hardening import HealthyChat
from tests.support.harness import Harness
from tests.support.records import share_records_key

pytestmark = pytest.mark.hardening

Outage = Callable[[], AbstractAsyncContextManager[None]]


async def scenario(h: Harness, outage: Outage) -> None:
    chat = await HealthyChat.open(h)
    await share_records_key(chat.counsellor)
    for _ in range(5):
        await chat.round_trip(pace=0.25)
    normal = statistics.median(chat.latencies)
    assert (await chat.visitor.call("consent", {"answer": "yes", "version": "v2"}))["ok"]
    key, body = sealed_record()
    handoff = {"chat_id": chat.visitor.chat_id, "consent_version": "v2", "sealed_key": key,
               "body": body}
    async with outage():
        chat.latencies.clear()
        for _ in range(5):
            await chat.round_trip(pace=0.25)
        # Messages flow as before; the relay does not touch the database.
        assert statistics.median(chat.latencies) < max(0.05, 5 * normal)
        answer = await chat.counsellor.call("handoff", handoff, timeout=30)
        assert answer["error"] == "unavailable" and "try again" in answer["message"], answer
        assert await chat.visitor.nothing("codename", 0.1)
        for _ in range(3):
            await chat.round_trip(pace=0.25)
    # Back: the console retries the very same hand-off, and it goes through once.
    answer = await chat.counsellor.call("handoff", handoff, timeout=30)
    assert answer["ok"], answer
    assert (await chat.visitor.expect("codename"))["codename"]
    records = (await chat.counsellor.call("records", {}))["items"]
    assert [r["record_id"] for r in records] == [answer["record_id"]]
    await chat.round_trip()


async def test_sqlite_locked_away(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "db.sqlite3"
    server: AiohttpServer = await aiohttp_server(create_app(make_config(
        database_url=f"sqlite:///{path}")))
    h = Harness(server.app, str(server.make_url("/")))

    @asynccontextmanager
    async def locked() -> AsyncIterator[None]:
        # Another process holding an exclusive lock: every write waits, then fails.
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()

    try:
        await scenario(h, locked)
    finally:
        await h.close()


@pytest.fixture
async def database_name() -> AsyncIterator[str]:
    async with pg_database("ek_fault_") as name:
        yield name


async def pg_admin(*statements: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


@pytest.mark.postgres
async def test_postgresql_refusing_connections(
    make_config: Callable[..., Config], aiohttp_server: Callable[..., Any], database_name: str
) -> None:
    url = pg_url(database_name)
    server: AiohttpServer = await aiohttp_server(create_app(make_config(database_url=url)))
    h = Harness(server.app, str(server.make_url("/")))

    @asynccontextmanager
    async def refusing() -> AsyncIterator[None]:
        await pg_admin(
            f'ALTER DATABASE "{database_name}" ALLOW_CONNECTIONS false',
            # The name is our own random hex, not input.
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608
            f"WHERE datname = '{database_name}' AND pid <> pg_backend_pid()",
        )
        try:
            yield
        finally:
            await pg_admin(f'ALTER DATABASE "{database_name}" ALLOW_CONNECTIONS true')

    try:
        await scenario(h, refusing)
    finally:
        await h.close()

