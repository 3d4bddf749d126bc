"""``/api/availability`` (issue 17) on a fake clock: structured data the widget words itself
(open or not, the next opening, the week's windows, the time zone, the reply time); duty
decides whether a chat starts, inside the hours or not; and while none can, whether a message
can be left: not before the team's records key exists (a fresh install), not before it is
certified, and not refused when the database is away."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from chatserver import crypto
from chatserver.config import Config
from chatserver.main import create_app
from chatserver.records.schema import team_keys
from chatserver.web.appkeys import CLOCK, ENGINE
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness

SATURDAY = datetime(2026, 12, 19, 11, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
NEXT_MONDAY = datetime(2026, 12, 21, 9, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


@pytest.fixture
async def h(make_config: Callable[..., Config]) -> AsyncIterator[Harness]:
    app = create_app(make_config(office_hours="mon-fri 09:00-17:00", drop_reply_days=2))
    app[CLOCK] = lambda: SATURDAY
    server = TestServer(app)
    await server.start_server()
    harness = Harness(server.app, str(server.make_url("/")))
    yield harness
    await harness.close()
    await server.close()


async def availability(h: Harness) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(h.url + "/api/availability") as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_hours_duty_and_the_records_key_decide_what_the_widget_hears(
        h: Harness) -> None:
    said = await availability(h)
    assert said["available"] is False and said["open"] is False
    assert said["next_open"] == NEXT_MONDAY
    assert said["hours"][0] == {"day": 0, "start": 540, "end": 1020} and len(said["hours"]) == 5
    assert said["tz"] == "Europe/Berlin" and said["reply_days"] == 2
    # A fresh install: nobody has signed in to the console, so there is no key to seal to.
    assert said["drops"] == "no_key"

    pki = Pki()
    records_pk = crypto.b64encode(crypto.box_keypair()[1])
    async with h.app[ENGINE].begin() as conn:
        await conn.execute(sa.insert(team_keys).values(name="records", public_key=records_pk,
                                                       created=0))
    assert (await availability(h))["drops"] == "uncertified"
    async with h.app[ENGINE].begin() as conn:
        await conn.execute(sa.update(team_keys).values(certificate=json.dumps(
            pki.records_certificate(crypto.b64decode(records_pk)))))
    assert (await availability(h))["drops"] == "ready"

    # On duty on a Saturday: a chat can start, outside the hours, and nothing about messages.
    await h.counsellor("anna", "Anna", on_duty=True)
    said = await availability(h)
    assert (said["available"], said["open"]) == (True, False) and "drops" not in said


async def test_a_failing_database_leaves_availability_answering(h: Harness) -> None:
    # The records key's table gone: every query for it fails, as with the database away.
    async with h.app[ENGINE].begin() as conn:
        await conn.execute(sa.text("DROP TABLE team_keys"))
    said = await availability(h)
    assert said["available"] is False and said["open"] is False
    assert said["drops"] == "unknown"
