"""Continuity: after the hand-off the console appends the chat's later lines to the record,
each entry sealed to the records key and padded. The server keeps only what it was given, only
for the counsellor holding the chat linked to the record and only with a grant; every append
(and every refused one) is audited, and a withdrawn or deleted record takes no more. The
visitor's own copy, sealed to a key from a reading code the server never sees, is read with the
codename and goes with the record."""

from __future__ import annotations

import json

import nacl.bindings as sodium
from sqlalchemy import func, select

from chatserver import crypto
from chatserver.records.schema import record_entries
from chatserver.web.appkeys import RECORDS
from tests.support.clients import CounsellorClient, VisitorClient, sealed_record
from tests.support.harness import Harness
from tests.support.records import share_records_key

SEALED = 32 + 16


def entry(records_pk: bytes, *lines: tuple[str, str]) -> str:
    """What the console appends: the lines as JSON, padded, sealed to the records key."""
    text = json.dumps({"t": "lines", "lines": [[who, said, 0] for who, said in lines]})
    return crypto.b64encode(crypto.seal(records_pk, crypto.pad(text.encode())))


async def filed_chat(h: Harness, anna: CounsellorClient) -> tuple[VisitorClient, str]:
    """A visitor in a chat with Anna who said yes, and the record Anna filed from it."""
    visitor = await h.visitor()
    assert (await visitor.request())["ok"]
    assert (await anna.accept(visitor.chat_id))["ok"]
    await visitor.expect("accepted")
    assert (await visitor.call("consent", {"answer": "yes", "version": "v1"}))["ok"]
    key, body = sealed_record()
    filed = await anna.call("handoff", {"chat_id": visitor.chat_id, "consent_version": "v1",
                                        "sealed_key": key, "body": body})
    assert filed["ok"], filed
    return visitor, str(filed["record_id"])


def records_pk_of(records_sk: bytes) -> bytes:
    return bytes(sodium.crypto_scalarmult_base(records_sk))


async def test_later_lines_go_into_the_same_record_as_padded_ciphertext_and_are_audited(
        harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    records_sk = await share_records_key(anna)
    records_pk = records_pk_of(records_sk)
    visitor, record_id = await filed_chat(harness, anna)
    await visitor.expect("codename")

    # The chat names its record now: a reloaded console knows where later lines go.
    chat = next(c for c in (await anna.sync())["chats"] if c["chat_id"] == visitor.chat_id)
    assert chat["record_id"] == record_id
    # A second record from the same chat would split it (and give a second codename).
    key, body = sealed_record()
    again = await anna.call("handoff", {"chat_id": visitor.chat_id, "consent_version": "v1",
                                        "sealed_key": key, "body": body})
    assert again["error"] == "conflict"
    assert await visitor.nothing("codename")

    short = entry(records_pk, ("them", "Ja."))
    long = entry(records_pk, ("them", "Mein Bruder Tom hat Angst vor den Leuten. " * 15),
                 ("me", "Das verstehe ich gut."))
    first = await anna.call("record_append", {"chat_id": visitor.chat_id, "body": short})
    second = await anna.call("record_append", {"chat_id": visitor.chat_id, "body": long})
    assert first["ok"] and second["ok"] and second["entry_id"] > first["entry_id"]

    record = (await anna.call("record_open", {"record_id": record_id}))["record"]
    stored = [e["body"] for e in record["entries"]]
    assert stored == [short, long]  # in order, byte for byte: the server adds nothing
    assert {e["author_id"] for e in record["entries"]} == {"anna"}
    # Lines of very different length are kept at the same length (one padding bucket).
    assert {len(crypto.b64decode(b)) for b in stored} == {1024 + SEALED}
    opened = [json.loads(crypto.unpad(crypto.open_sealed(records_sk, records_pk,
                                                         crypto.b64decode(b))))
              for b in stored]
    assert opened[1]["lines"][1][1] == "Das verstehe ich gut."

    trail = await harness.app[RECORDS].audit_trail(record_id)
    assert [(t["user_id"], t["action"], t["refused"]) for t in trail] == [
        ("anna", "create", False), ("anna", "append", False), ("anna", "append", False),
        ("anna", "open", False)]


async def test_only_the_chats_own_counsellor_with_a_grant_appends_and_a_refusal_is_audited(
        harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    ben = await harness.counsellor("ben", "Ben")
    # Filing needs no grant (sealed to the public key); appending does, as notes do.
    visitor, record_id = await filed_chat(harness, anna)
    body = entry(crypto.box_keypair()[0], ("them", "noch etwas"))
    refused = await anna.call("record_append", {"chat_id": visitor.chat_id, "body": body})
    assert refused["error"] == "no_grant"
    assert "grant" in refused["message"]
    trail = await harness.app[RECORDS].audit_trail(record_id)
    assert [(t["user_id"], t["action"], t["refused"]) for t in trail][-1] == \
        ("anna", "append", True)

    records_sk = await share_records_key(anna, ben)
    records_pk = records_pk_of(records_sk)
    body = entry(records_pk, ("them", "noch etwas"))
    assert (await anna.call("record_append", {"chat_id": visitor.chat_id, "body": body}))["ok"]
    # A colleague with a grant, but not in this chat, cannot write into its record.
    assert (await ben.call("record_append", {"chat_id": visitor.chat_id,
                                             "body": body}))["error"] == "forbidden"
    # A chat without a record has nowhere to append to.
    other = await harness.visitor()
    assert (await other.request())["ok"]
    assert (await anna.accept(other.chat_id))["ok"]
    assert (await anna.call("record_append", {"chat_id": other.chat_id,
                                              "body": body}))["error"] == "bad_state"
    # Garbage is refused at the edge.
    for bad in ({"chat_id": visitor.chat_id, "body": "kein base64!"},
                {"chat_id": visitor.chat_id},
                {"chat_id": visitor.chat_id, "body": body, "record_id": record_id}):
        assert (await anna.call("record_append", bad))["error"] == "invalid"
    record = (await ben.call("record_open", {"record_id": record_id}))["record"]
    assert [e["body"] for e in record["entries"]] == [body]


async def test_a_withdrawn_or_deleted_record_takes_no_more_lines_and_its_entries_are_gone(
        harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    records_pk = records_pk_of(await share_records_key(anna))
    visitor, record_id = await filed_chat(harness, anna)
    codename = (await visitor.expect("codename"))["codename"]
    body = entry(records_pk, ("them", "vor dem Widerruf"))
    assert (await anna.call("record_append", {"chat_id": visitor.chat_id, "body": body}))["ok"]

    # Deleted by its owner: no appends while it waits out its recovery window.
    assert (await anna.call("record_delete", {"record_id": record_id}))["ok"]
    assert (await anna.call("record_append", {"chat_id": visitor.chat_id,
                                              "body": body}))["error"] == "not_found"
    assert (await anna.call("record_restore", {"record_id": record_id}))["ok"]
    assert (await anna.call("record_append", {"chat_id": visitor.chat_id, "body": body}))["ok"]

    # The visitor withdraws in the middle of the chat: the record and every entry go at once.
    assert (await visitor.call("withdraw", {"codename": codename}))["ok"]
    assert (await anna.call("record_append", {"chat_id": visitor.chat_id,
                                              "body": body}))["error"] == "not_found"
    store = harness.app[RECORDS]
    async with store.engine.connect() as conn:
        left = (await conn.execute(select(func.count()).select_from(record_entries))).scalar()
    assert left == 0


def opened(keys: crypto.ReaderKeys, body: str) -> list[list[object]]:
    plain = crypto.unpad(crypto.open_sealed(keys.sk, keys.pk, crypto.b64decode(body)))
    lines: list[list[object]] = json.loads(plain)["lines"]
    return lines


async def test_the_visitors_copy_is_read_with_the_codename_alone_and_goes_with_a_withdrawal(
        harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    records_pk = records_pk_of(await share_records_key(anna))
    # The widget made a reading code (never sent) and told the console its public key.
    code = crypto.generate_reader_code()
    reader = crypto.reader_keys(crypto.split_codename("wald " + code)[1] or "")
    visitor = await harness.visitor()
    assert (await visitor.request())["ok"]
    assert (await anna.accept(visitor.chat_id))["ok"]
    await visitor.expect("accepted")
    assert (await visitor.call("consent", {"answer": "yes", "version": "v1"}))["ok"]
    key, body = sealed_record()
    handoff = {"chat_id": visitor.chat_id, "consent_version": "v1", "sealed_key": key,
               "body": body}
    # Both halves of the visitor's copy, or neither.
    assert (await anna.call("handoff", {**handoff, "reader_pk": crypto.b64encode(
        reader.pk)}))["error"] == "invalid"
    copy = entry(reader.pk, ("them", "vorher"))
    filed = await anna.call("handoff", {**handoff, "reader_pk": crypto.b64encode(reader.pk),
                                        "reader_body": copy})
    assert filed["ok"], filed
    codename = (await visitor.expect("codename"))["codename"]

    # The console in the chat (and in any return chat) learns the reader key to seal to.
    asked = await anna.call("record_reader", {"chat_id": visitor.chat_id})
    assert asked["reader_pk"] == crypto.b64encode(reader.pk)
    later = entry(reader.pk, ("them", "danach"))
    assert (await anna.call("record_append", {
        "chat_id": visitor.chat_id, "body": entry(records_pk, ("them", "danach")),
        "reader_body": later}))["ok"]
    assert (await anna.call("record_append", {
        "chat_id": visitor.chat_id, "body": entry(records_pk, ("me", "nur fürs Team"))}))["ok"]

    # Another visitor socket, with the codename alone: only the visitor's copies come back,
    # and they open with the reading code's key and nothing the server has.
    elsewhere = await harness.visitor()
    read = await elsewhere.call("record_read", {"codename": codename})
    assert read["ok"], read
    assert read["body"] == copy and [e["body"] for e in read["entries"]] == [later]
    assert body not in json.dumps(read)
    assert opened(reader, read["body"])[0][1] == "vorher"
    assert opened(reader, read["entries"][0]["body"])[0][1] == "danach"
    trail = await harness.app[RECORDS].audit_trail(filed["record_id"])
    assert ("visitor", "read") in [(t["user_id"], t["action"]) for t in trail]
    assert ("anna", "reader") in [(t["user_id"], t["action"]) for t in trail]

    # Withdrawn: nothing to read, and no copy left anywhere.
    assert (await elsewhere.call("withdraw", {"codename": codename}))["ok"]
    assert (await elsewhere.call("record_read", {"codename": codename}))["error"] == "not_found"
    store = harness.app[RECORDS]
    async with store.engine.connect() as conn:
        left = (await conn.execute(select(func.count()).select_from(record_entries))).scalar()
    assert left == 0
    assert (await (await harness.visitor()).call(
        "record_read", {"codename": "wald haus see"}))["error"] == "not_found"


async def test_a_record_without_a_reader_key_takes_no_visitor_copy_and_needs_a_grant_to_ask(
        harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    visitor, record_id = await filed_chat(harness, anna)
    # Without a grant the reader key is not given out either (and the try is audited).
    assert (await anna.call("record_reader", {"chat_id": visitor.chat_id}))["error"] == \
        "no_grant"
    records_pk = records_pk_of(await share_records_key(anna))
    assert (await anna.call("record_reader", {"chat_id": visitor.chat_id}))["reader_pk"] == ""
    stray = entry(crypto.box_keypair()[1], ("them", "x"))
    assert (await anna.call("record_append", {
        "chat_id": visitor.chat_id, "body": entry(records_pk, ("them", "x")),
        "reader_body": stray}))["error"] == "bad_state"
    trail = await harness.app[RECORDS].audit_trail(record_id)
    assert ("anna", "reader", True) in [(t["user_id"], t["action"], t["refused"])
                                         for t in trail]
