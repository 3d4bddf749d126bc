"""Every event answers garbage with the documented error shape; nothing else is disturbed."""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from tests.support.clients import CounsellorClient, VisitorClient, random_ct
from tests.support.hardening import is_error_shape
from tests.support.harness import Harness

GARBAGE: list[Any] = [
    None, 0, -1, 3.5, "x", "", [], [1, 2], True,
    {"unknown": 1},
    {"entry": 7}, {"entry": "exit", "lang": "klingon"}, {"entry": "exit", "extra": 1},
    {"token": 5}, {"token": "short"}, {"token": "a" * 500},
    {"seq": "1", "ct": "AAAA"}, {"seq": 0, "ct": "AAAA"}, {"seq": 1, "ct": "not base64!!"},
    {"seq": 1, "ct": 5}, {"seq": 2**60, "ct": "AAAA"}, {"seq": 1, "ct": "A" * 22_000},
    {"upto": -1}, {"upto": "x"}, {"on": "yes"}, {"chat_id": 7},
    {"chat_id": "../../etc/passwd"}, {"chat_id": "x" * 10_000},
    {"chat_id": "nonexistentchat0000", "seq": 1, "ct": "AAAA"},
    {"chat_id": "nonexistentchat0000", "to": "", "note": "x"},
    {"a": {"b": {"c": {"d": {"e": [[[[[[]]]]]]}}}}},
    {"answer": "maybe", "version": "v2"}, {"answer": "yes", "version": "<script>"},
]

VISITOR_EVENTS = ["request", "resume", "send", "ack", "consent", "end", "nosuchevent"]
COUNSELLOR_EVENTS = ["sync", "duty", "accept", "send", "ack", "transfer", "end", "nosuchevent"]


async def test_garbage_to_every_event_is_refused_cleanly(harness: Harness) -> None:
    # A healthy chat runs alongside and must not notice anything.
    anna, healthy = await harness.accepted_chat()

    prober = await harness.visitor()
    evil = await harness.counsellor("mallory", "Mallory")
    client: VisitorClient | CounsellorClient
    for client, events in ((prober, VISITOR_EVENTS), (evil, COUNSELLOR_EVENTS)):
        for event in events:
            for payload in GARBAGE:
                answer = await client.call_raw(event, payload)
                if event == "nosuchevent":
                    assert answer is None
                elif not answer.get("ok"):  # "end" with {}, or an ack of a legal number
                    assert is_error_shape(answer), (event, type(payload).__name__)
    # Several arguments instead of one object.
    answer = await prober.call_raw("send", {"seq": 1}, {"ct": "AAAA"})
    assert is_error_shape(answer)

    ct = random_ct()
    assert (await healthy.send(ct))["ok"]
    assert (await anna.expect("msg"))["ct"] == ct
    assert (await anna.send(healthy.chat_id, ct))["ok"]
    assert (await healthy.expect("msg"))["ct"] == ct


async def test_errors_are_also_emitted_as_failed_events(harness: Harness) -> None:
    visitor = await harness.visitor()
    answer = await visitor.call("send", {"seq": 1, "ct": "AAAA"})
    assert answer["error"] == "bad_state"
    assert (await visitor.expect("failed")) == answer


@pytest.mark.parametrize("size", [16384, 16385])
async def test_envelope_size_cap_is_exact(harness: Harness, size: int) -> None:
    _, visitor = await harness.accepted_chat()
    answer = await visitor.send(random_ct(size))
    if size <= 16384:
        assert answer["ok"]
    else:
        assert answer["error"] == "invalid" and "16384" in answer["message"]


async def test_oversized_frame_closes_only_that_connection(harness: Harness) -> None:
    anna, healthy = await harness.accepted_chat()
    flooder = await harness.visitor()
    # The server drops the connection instead of answering.
    with pytest.raises((socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError)):
        await flooder.call_raw("send", {"seq": 1, "ct": "A" * 1_200_000}, timeout=2)
    assert not flooder.connected
    ct = random_ct()
    assert (await healthy.send(ct))["ok"]
    assert (await anna.expect("msg"))["ct"] == ct
