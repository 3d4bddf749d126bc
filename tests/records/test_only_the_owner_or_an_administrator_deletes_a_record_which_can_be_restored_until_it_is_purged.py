"""Deleting a case record: only the counsellor who filed it or an administrator (both with a
grant) may, and the deletion is soft. The record disappears from every list and can no longer
be opened or annotated, its owner (or an administrator) can restore it for
``CHATSERVER_RECORD_RECOVERY_DAYS``, and after that the hourly purge deletes it for good. While
it waits, its codename opens no chat, but the visitor's withdrawal still erases it at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from chatserver.config import Config
from chatserver.main import create_app
from chatserver.web.appkeys import CLOCK, RECORDS
from tests.support.clients import random_ct
from tests.support.harness import Harness
from tests.support.records import admin, file_record, share_records_key

DAY = 86400.0
WINDOW_DAYS = 30.0


class Clock:
    """The server's wall clock, which the test can move on (the relay and the records read it)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
async def served(backend: str, make_config: Callable[..., Config]
                 ) -> AsyncIterator[tuple[Harness, Clock]]:
    """A real server on each state backend, with a clock the test moves."""
    clock = Clock()
    app = create_app(make_config(redis_url=backend, record_recovery_days=WINDOW_DAYS))
    app[CLOCK] = clock
    server = TestServer(app)
    await server.start_server()
    h = Harness(server.app, str(server.make_url("/")))
    yield h, clock
    await asyncio.wait_for(h.close(), 20)
    await asyncio.wait_for(server.close(), 20)


async def codename_call(h: Harness, event: str, codename: str) -> dict[str, Any]:
    """``return`` or ``withdraw`` from a visitor of its own (codename tries are limited per
    connection, as a visitor coming back opens the widget anew)."""
    visitor = await h.visitor()
    payload = {"codename": codename, **({"lang": "de"} if event == "return" else {})}
    answer: dict[str, Any] = await visitor.call(event, payload)
    return answer


def ids(answer: dict[str, object]) -> list[str]:
    items = answer["items"]
    assert isinstance(items, list), answer
    return [str(i["record_id"]) for i in items]


async def test_a_colleague_with_a_grant_cannot_delete_the_owner_restores_and_an_admin_can_too(
        served: tuple[Harness, Clock]) -> None:
    h, clock = served
    anna = await h.counsellor("anna", "Anna")
    ben = await h.counsellor("ben", "Ben", on_duty=False)
    boss = await admin(h, "boss")
    await share_records_key(anna, ben, boss)
    filed = await file_record(h, anna)
    note = random_ct(60)
    assert (await ben.call("record_note", {"record_id": filed.record_id, "body": note}))["ok"]

    # Ben holds a grant and reads the record, but it is not his to delete.
    refused = await ben.call("record_delete", {"record_id": filed.record_id})
    assert refused["error"] == "forbidden"
    assert "filed this record" in refused["message"]
    assert ids(await ben.call("records", {})) == [filed.record_id]

    # Anna, who filed it, deletes it: gone from every list, closed to opening and notes.
    deleted = await anna.call("record_delete", {"record_id": filed.record_id})
    assert deleted["ok"]
    assert deleted["purge_at"] == pytest.approx(clock() + WINDOW_DAYS * DAY, abs=60)
    for who in (anna, ben, boss):
        assert ids(await who.call("records", {})) == []
        assert (await who.call("record_open", {"record_id": filed.record_id}))["error"] == \
            "not_found"
    assert (await ben.call("record_note", {"record_id": filed.record_id,
                                           "body": random_ct(60)}))["error"] == "not_found"
    assert (await anna.call("record_delete", {"record_id": filed.record_id}))["error"] == \
        "not_found"
    # Only its owner and the administrators see it among the deleted, and restore it.
    assert ids(await anna.call("records_deleted", {})) == [filed.record_id]
    assert ids(await boss.call("records_deleted", {})) == [filed.record_id]
    assert ids(await ben.call("records_deleted", {})) == []
    assert (await ben.call("record_restore", {"record_id": filed.record_id}))["error"] == \
        "forbidden"
    assert (await anna.call("record_restore", {"record_id": filed.record_id}))["ok"]
    assert ids(await ben.call("records", {})) == [filed.record_id]
    record = (await ben.call("record_open", {"record_id": filed.record_id}))["record"]
    assert [n["body"] for n in record["notes"]] == [note]
    assert (await anna.call("record_restore", {"record_id": filed.record_id}))["error"] == \
        "not_found"

    # An administrator deletes a record that is not theirs, and restores it.
    assert (await boss.call("record_delete", {"record_id": filed.record_id}))["ok"]
    assert ids(await anna.call("records", {})) == []
    assert ids(await anna.call("records_deleted", {})) == [filed.record_id]
    assert (await boss.call("record_restore", {"record_id": filed.record_id}))["ok"]
    assert ids(await anna.call("records", {})) == [filed.record_id]

    trail = await h.app[RECORDS].audit_trail(filed.record_id)
    assert [(t["user_id"], t["action"], t["refused"]) for t in trail] == [
        ("anna", "create", False), ("ben", "note", False), ("ben", "delete", True),
        ("anna", "delete", False), ("ben", "restore", True), ("anna", "restore", False),
        ("ben", "open", False), ("boss", "delete", False), ("boss", "restore", False)]


async def test_after_the_recovery_window_a_deleted_record_cannot_be_restored_and_is_purged(
        served: tuple[Harness, Clock]) -> None:
    h, clock = served
    anna = await h.counsellor("anna", "Anna")
    await share_records_key(anna)
    kept, binned = await file_record(h, anna), await file_record(h, anna)
    assert (await anna.call("record_delete", {"record_id": binned.record_id}))["ok"]

    # A day before the window ends it can still be restored (it is deleted again at once).
    clock.offset = (WINDOW_DAYS - 1) * DAY
    assert (await anna.call("record_restore", {"record_id": binned.record_id}))["ok"]
    assert (await anna.call("record_delete", {"record_id": binned.record_id}))["ok"]
    # The window counts from that last deletion; past it, there is no way back.
    clock.offset += WINDOW_DAYS * DAY + 1
    refused = await anna.call("record_restore", {"record_id": binned.record_id})
    assert refused["error"] == "not_found" and "recovery window" in refused["message"]

    # The hourly purge (what it calls) deletes it for good; the other record stays.
    assert await h.app[RECORDS].purge(clock()) == 1
    assert ids(await anna.call("records_deleted", {})) == []
    assert ids(await anna.call("records", {})) == [kept.record_id]
    assert (await codename_call(h, "withdraw", binned.codename))["error"] == "not_found"
    trail = await h.app[RECORDS].audit_trail(binned.record_id)
    assert [(t["user_id"], t["action"]) for t in trail][-4:] == [
        ("anna", "delete"), ("anna", "restore"), ("anna", "delete"), ("system", "purge")]


async def test_a_deleted_record_is_gone_for_its_codename_and_the_withdrawal_erases_it_at_once(
        served: tuple[Harness, Clock]) -> None:
    h, _ = served
    anna = await h.counsellor("anna", "Anna")
    await share_records_key(anna)
    filed = await file_record(h, anna)
    live = await file_record(h, anna)
    assert (await anna.call("record_delete", {"record_id": filed.record_id}))["ok"]

    # Coming back with the codename of a deleted record answers like an unknown codename.
    gone = await codename_call(h, "return", filed.codename)
    unknown = await codename_call(h, "return", "eins zwei drei vier fuenf sechs sieben")
    assert gone["error"] == unknown["error"] == "not_found"
    assert gone["message"] == unknown["message"]

    # The visitor's withdrawal still works, at once and for good: nothing left to restore.
    assert (await codename_call(h, "withdraw", filed.codename))["ok"]
    assert ids(await anna.call("records_deleted", {})) == []
    assert (await anna.call("record_restore", {"record_id": filed.record_id}))["error"] == \
        "not_found"
    assert (await codename_call(h, "withdraw", filed.codename))["error"] == "not_found"
    # A live record's withdrawal is as immediate: no recovery window for the visitor's choice.
    assert (await codename_call(h, "withdraw", live.codename))["ok"]
    assert ids(await anna.call("records", {})) == []
    assert ids(await anna.call("records_deleted", {})) == []
    trail = await h.app[RECORDS].audit_trail(filed.record_id)
    assert [(t["user_id"], t["action"]) for t in trail][-2:] == [
        ("anna", "delete"), ("visitor", "withdraw")]
    # The purge finds nothing more of either.
    assert await h.app[RECORDS].purge(time.time() + 365 * DAY - 60) == 0
