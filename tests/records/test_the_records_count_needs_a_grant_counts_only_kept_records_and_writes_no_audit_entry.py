"""`records_count` gives the records view its count at console start: the number of records the
team keeps (deleted ones not counted), only to a holder of a grant, and without an audit entry
(it opens no record; the listing, which names them, stays audited)."""

from __future__ import annotations

from chatserver.web.appkeys import RECORDS
from tests.support.harness import Harness
from tests.support.records import admin, file_record, share_records_key


async def test_the_count_follows_filing_and_deletion_and_needs_a_grant(harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    await share_records_key(anna)
    assert await anna.call("records_count", {}) == {"ok": True, "count": 0}
    first = await file_record(harness, anna)
    await file_record(harness, anna)
    assert await anna.call("records_count", {}) == {"ok": True, "count": 2}
    assert (await anna.call("record_delete", {"record_id": first.record_id}))["ok"]
    assert await anna.call("records_count", {}) == {"ok": True, "count": 1}

    # Without a grant, no number either: the same refusal as the listing.
    ben = await harness.counsellor("ben", "Ben", on_duty=False)
    boss = await admin(harness, "boss")
    for who in (ben, boss):
        answer = await who.call("records_count", {})
        assert answer["error"] == "no_grant" and "grant" in answer["message"]
        assert (await who.expect("failed"))["error"] == "no_grant"

    # Counting is no access: the trail has the filing, the deletion, and no count.
    log = await harness.app[RECORDS].audit_log(100)
    assert not [e for e in log if e.action in ("count", "records_count")]
    assert not [e for e in log if e.record_id is None and e.user_id in ("ben", "boss")]


async def test_the_count_refuses_garbage_with_a_clear_error(harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    await share_records_key(anna)
    for garbage in ({"x": 1}, [], "records", 7):
        answer = await anna.call("records_count", garbage)
        assert answer["error"] == "invalid", answer
    assert await anna.call("records_count", {}) == {"ok": True, "count": 0}
