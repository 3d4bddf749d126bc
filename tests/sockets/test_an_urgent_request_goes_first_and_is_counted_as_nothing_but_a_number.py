"""A visitor may say a chat request is urgent: it queues ahead of earlier requests, the
visitors behind it hear their new place, counsellors see it marked, and the statistics count
it once, with no entry type, language or anything else of the chat. Anything but a boolean is
refused."""

from __future__ import annotations

from chatserver.web.appkeys import RELAY
from tests.support.harness import Harness


async def test_an_urgent_request_goes_first_and_is_counted_as_nothing_but_a_number(
    harness: Harness,
) -> None:
    anna = await harness.counsellor("anna")
    earlier = await harness.visitor()
    assert (await earlier.request("exit"))["position"] == 1
    urgent = await harness.visitor()
    answer = await urgent.call("request", {"entry": "relative", "lang": "en", "urgent": True})
    assert answer["ok"] and answer["position"] == 1
    moved = await earlier.expect("queue")
    assert moved["position"] == 2

    queue = (await anna.sync())["queue"]
    assert [(item["entry"], item.get("urgent")) for item in queue] == [
        ("relative", True), ("exit", None)]

    counts = await harness.app[RELAY].state.take_stats("9999999999")
    names = {name: n for hour in counts.values() for name, n in hour.items()}
    assert names["urgent|-|-"] == 1
    assert [name for name in names if "urgent" in name] == ["urgent|-|-"]
    assert sum(n for name, n in names.items() if name.startswith("requested|")) == 2

    for bad in ("yes", 1, None, [True]):
        prober = await harness.visitor()
        refused = await prober.call("request", {"entry": "exit", "urgent": bad})
        assert refused.get("error") == "invalid", (bad, refused)
