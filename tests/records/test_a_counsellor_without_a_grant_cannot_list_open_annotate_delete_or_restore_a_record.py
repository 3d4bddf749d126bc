"""Case records need a grant of the team's records key: without one a counsellor (and an
administrator) lists, opens, exports, annotates, deletes and restores nothing, learns nothing
about which records exist, and every try is in the audit trail."""

from __future__ import annotations

import time

from chatserver.records.store import Keyring
from chatserver.web.appkeys import RECORDS
from tests.support.clients import random_ct
from tests.support.harness import Harness
from tests.support.records import (
    admin,
    box_keypair,
    file_record,
    registration,
    share_records_key,
)


async def test_without_a_grant_every_records_event_is_refused_no_grant(harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    await share_records_key(anna)
    filed = await file_record(harness, anna)
    ben = await harness.counsellor("ben", "Ben", on_duty=False)
    boss = await admin(harness, "boss")
    # Waiting for a grant is not holding one.
    assert (await ben.call("keyring_register", registration(box_keypair()[1])))["ok"]

    calls = [("records", {}), ("records_deleted", {}),
             ("record_open", {"record_id": filed.record_id}),
             ("record_open", {"record_id": filed.record_id, "export": True}),
             ("record_note", {"record_id": filed.record_id, "body": random_ct(60)}),
             ("record_delete", {"record_id": filed.record_id}),
             ("record_restore", {"record_id": filed.record_id}),
             # An id that does not exist is refused the same way: no grant, no way to tell.
             ("record_open", {"record_id": "nosuchrecord0000"}),
             ("record_delete", {"record_id": "nosuchrecord0000"})]
    for who in (ben, boss):
        for event, payload in calls:
            answer = await who.call(event, payload)
            assert answer["error"] == "no_grant", (event, answer)
            assert "grant" in answer["message"]
            failed = await who.expect("failed")
            assert failed["error"] == "no_grant"

    # The record is untouched, and the holder still reads it.
    assert [i["record_id"] for i in (await anna.call("records", {}))["items"]] == \
        [filed.record_id]
    record = (await anna.call("record_open", {"record_id": filed.record_id}))["record"]
    assert record["notes"] == []

    # Every refused try is in the trail under the account that tried.
    trail = await harness.app[RECORDS].audit_trail(filed.record_id)
    refused = [(t["user_id"], t["action"]) for t in trail if t["refused"]]
    tried = ["open", "export", "note", "delete", "restore"]
    assert refused == [("ben", a) for a in tried] + [("boss", a) for a in tried]
    log = await harness.app[RECORDS].audit_log(100)
    lists = [(e.user_id, e.action) for e in log if e.refused and e.record_id is None]
    assert sorted(lists) == sorted([(w, a) for w in ("ben", "boss")
                                    for a in ("list", "list_deleted")])


async def test_a_grant_opens_the_records_and_taking_it_away_closes_them_again(
        harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    ben = await harness.counsellor("ben", "Ben", on_duty=False)
    assert (await ben.call("records", {}))["error"] == "no_grant"
    await share_records_key(anna, ben)
    filed = await file_record(harness, anna)
    assert [i["record_id"] for i in (await ben.call("records", {}))["items"]] == \
        [filed.record_id]
    assert (await ben.call("record_note", {"record_id": filed.record_id,
                                           "body": random_ct(60)}))["ok"]

    # A new box key (another browser without the old one) goes beside the old one and waits
    # for its own grant; the grant of the old one stays, records stay open.
    assert (await ben.call("keyring_register", registration(box_keypair()[1])))["ok"]
    assert (await ben.call("record_open", {"record_id": filed.record_id}))["ok"]
    # Taken away (as disable and reset do): closed again.
    store = harness.app[RECORDS]
    async with store.engine.begin() as conn:
        await Keyring.revoke(conn, "ben", time.time())
    assert (await ben.call("record_open", {"record_id": filed.record_id}))["error"] == \
        "no_grant"
