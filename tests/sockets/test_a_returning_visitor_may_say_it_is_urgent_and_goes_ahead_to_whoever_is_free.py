"""A visitor coming back with their codename may say it is urgent, as a new visitor may: the
return chat queues ahead of earlier requests, and it is no longer held for the counsellor
who filed the record (whoever is free takes it; an ordinary return waits for them while they
are on duty). Anything but a boolean is refused."""

from __future__ import annotations

from tests.support.harness import Harness
from tests.support.records import file_record, share_records_key


async def test_a_returning_visitor_may_say_it_is_urgent_and_goes_ahead_to_whoever_is_free(
    harness: Harness,
) -> None:
    anna = await harness.counsellor("anna", "Anna")
    ben = await harness.counsellor("ben", "Ben")
    await share_records_key(anna, ben)
    filed = await file_record(harness, anna)

    # An ordinary return waits for Anna, who is on duty.
    calm = await harness.visitor()
    answer = await calm.call("return", {"codename": filed.codename, "lang": "de"})
    assert answer["ok"] and answer["position"] == 1
    calm.chat_id = answer["chat_id"]
    assert (await ben.accept(calm.chat_id)).get("error") == "reserved"
    assert (await calm.end())["ok"]

    earlier = await harness.visitor()
    assert (await earlier.request("exit"))["position"] == 1
    urgent = await harness.visitor()
    answer = await urgent.call("return", {"codename": filed.codename, "lang": "de",
                                          "urgent": True})
    assert answer["ok"] and answer["position"] == 1
    urgent.chat_id = answer["chat_id"]
    assert (await earlier.expect("queue"))["position"] == 2
    queue = (await ben.sync())["queue"]
    assert [(item["entry"], item.get("urgent")) for item in queue] == [
        ("return", True), ("exit", None)]
    assert (await ben.accept(urgent.chat_id))["ok"]
    await urgent.expect("accepted")

    for bad in ("yes", 1, None):
        prober = await harness.visitor()
        refused = await prober.call("return", {"codename": filed.codename, "urgent": bad})
        assert refused.get("error") == "invalid", (bad, refused)
