"""A visitor who comes back with their codename opens a chat linked to their record: whoever
takes it learns which record it is (in the accept answer, after a reload in sync, after a
transfer in assigned), and what is said there is appended to that same record. The visitor's
side never hears the record id."""

from __future__ import annotations

import json

import nacl.bindings as sodium

from chatserver import crypto
from tests.support.harness import Harness
from tests.support.records import file_record, share_records_key


def entry(records_pk: bytes, said: str) -> str:
    text = json.dumps({"t": "lines", "lines": [["them", said, 0]]}).encode()
    return crypto.b64encode(crypto.seal(records_pk, crypto.pad(text)))


async def test_the_return_chat_names_its_record_everywhere_the_counsellor_learns_of_it(
        harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    ben = await harness.counsellor("ben", "Ben")
    records_sk = await share_records_key(anna, ben)
    records_pk = bytes(sodium.crypto_scalarmult_base(records_sk))
    filed = await file_record(harness, anna)

    back = await harness.visitor()
    opened = await back.call("return", {"codename": filed.codename, "lang": "de"})
    assert opened["ok"], opened
    assert filed.record_id not in json.dumps(opened)
    accepted = await anna.accept(opened["chat_id"])
    assert accepted["ok"]
    assert accepted["chat"]["entry"] == "return"
    assert accepted["chat"]["record_id"] == filed.record_id
    synced = next(c for c in (await anna.sync())["chats"] if c["chat_id"] == opened["chat_id"])
    assert synced["record_id"] == filed.record_id

    # Lines of the return chat go into the same record.
    said = entry(records_pk, "Ich bin wieder da.")
    assert (await anna.call("record_append", {"chat_id": opened["chat_id"], "body": said}))["ok"]
    record = (await anna.call("record_open", {"record_id": filed.record_id}))["record"]
    assert [e["body"] for e in record["entries"]] == [said]

    # Transferred to Ben, the chat still names the record, and Ben's lines go there too.
    assert (await anna.call("transfer", {"chat_id": opened["chat_id"], "to": "ben"}))["ok"]
    assigned = await ben.expect("assigned")
    assert assigned["chat"]["record_id"] == filed.record_id
    more = entry(records_pk, "Und noch etwas.")
    assert (await ben.call("record_append", {"chat_id": opened["chat_id"], "body": more}))["ok"]
    assert (await anna.call("record_append", {"chat_id": opened["chat_id"],
                                              "body": more}))["error"] == "forbidden"
    record = (await ben.call("record_open", {"record_id": filed.record_id}))["record"]
    assert [e["body"] for e in record["entries"]] == [said, more]
    # A return chat files no second record: there is one already.
    assert (await back.call("consent", {"answer": "yes", "version": "v1"}))["ok"]
    key = crypto.b64encode(crypto.seal(records_pk, bytes(32)))
    again = await ben.call("handoff", {"chat_id": opened["chat_id"], "consent_version": "v1",
                                       "sealed_key": key, "body": crypto.b64encode(bytes(64))})
    assert again["error"] == "conflict"

    # Nothing the visitor's socket received names the record.
    for event in list(back._queues):
        assert filed.record_id not in json.dumps(back.drain(event))
