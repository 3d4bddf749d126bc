"""What docs/privacy.md promises of the retention settings: a case record is deleted for good by
the hourly purge once ``CHATSERVER_RECORD_RETENTION_DAYS`` have passed (its codename then opens
and withdraws nothing), and an anonymous message once ``CHATSERVER_DROP_TTL_DAYS`` have; the
audit trail names the expiry, never content."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp.test_utils import TestServer

from chatserver.config import Config
from chatserver.main import create_app
from chatserver.web.appkeys import CLOCK, RECORDS
from tests.support.drops import leave_drop
from tests.support.harness import Harness
from tests.support.records import file_record, share_records_key

DAY = 86400.0
RETENTION_DAYS = 123.0
DROP_DAYS = 30.0


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
async def served(make_config: Callable[..., Config]) -> AsyncIterator[tuple[Harness, Clock]]:
    clock = Clock()
    app = create_app(make_config(record_retention_days=RETENTION_DAYS, drop_ttl_days=DROP_DAYS))
    app[CLOCK] = clock
    server = TestServer(app)
    await server.start_server()
    h = Harness(server.app, str(server.make_url("/")))
    yield h, clock
    await asyncio.wait_for(h.close(), 20)
    await asyncio.wait_for(server.close(), 20)


async def test_records_past_their_retention_and_expired_drops_are_purged(
    served: tuple[Harness, Clock],
) -> None:
    h, clock = served
    anna = await h.counsellor("anna", "Anna")
    await share_records_key(anna)
    filed = await file_record(h, anna)
    await leave_drop(await h.visitor())
    (item,) = (await anna.call("records", {}))["items"]
    assert item["retain_until"] - item["created"] == pytest.approx(RETENTION_DAYS * DAY)
    assert len((await anna.call("drops", {}))["items"]) == 1

    # A day before either limit nothing goes.
    clock.offset = (DROP_DAYS - 1) * DAY
    assert await h.app[RECORDS].purge(clock()) == 0
    # Past the drop's lifetime it goes; the record stays until its own date.
    clock.offset = DROP_DAYS * DAY + 60
    assert await h.app[RECORDS].purge(clock()) == 1
    assert (await anna.call("drops", {}))["items"] == []
    assert len((await anna.call("records", {}))["items"]) == 1
    clock.offset = (RETENTION_DAYS - 1) * DAY
    assert await h.app[RECORDS].purge(clock()) == 0
    clock.offset = RETENTION_DAYS * DAY + 60
    assert await h.app[RECORDS].purge(clock()) == 1
    assert (await anna.call("records", {}))["items"] == []
    assert (await anna.call("records_deleted", {}))["items"] == []
    visitor = await h.visitor()
    assert (await visitor.call("withdraw", {"codename": filed.codename}))["error"] == "not_found"
    trail = await h.app[RECORDS].audit_trail(filed.record_id)
    assert [(t["user_id"], t["action"]) for t in trail][-1] == ("system", "expire")
