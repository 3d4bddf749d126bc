"""Hand-off: a record only with the visitor's yes, ciphertext only, codename return, drops."""

from __future__ import annotations

import signal
from pathlib import Path

from chatserver import crypto
from chatserver.web.appkeys import RECORDS
from tests.support.clients import CounsellorClient, VisitorClient, random_ct, sealed_record
from tests.support.drops import signed_answer
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness
from tests.support.nodes import Node, counsellor_token
from tests.support.records import share_records_key
from tests.support.redis_server import RedisServer


async def active_chat(h: Harness) -> tuple[CounsellorClient, VisitorClient]:
    anna, visitor = await h.accepted_chat()
    await visitor.expect("accepted")
    return anna, visitor


async def test_no_record_without_consent_even_with_a_raw_socket_call(harness: Harness) -> None:
    anna, visitor = await active_chat(harness)
    await share_records_key(anna)
    key, body = sealed_record()
    payload = {"chat_id": visitor.chat_id, "consent_version": "v2", "sealed_key": key,
               "body": body}
    assert (await anna.call("handoff", payload))["error"] == "no_consent"
    assert (await visitor.call("consent", {"answer": "no", "version": "v2"}))["ok"]
    assert (await anna.call("handoff", payload))["error"] == "no_consent"
    assert (await anna.call("records", {}))["items"] == []
    # A yes to an outdated consent text does not count either.
    assert (await visitor.call("consent", {"answer": "yes", "version": "v0"}))["ok"]
    assert (await anna.call("handoff", {**payload, "consent_version": "v0"}))["error"] == \
        "no_consent"
    assert await visitor.nothing("codename")


async def test_consented_record_is_stored_read_by_colleague_and_audited(
    harness: Harness,
) -> None:
    anna, visitor = await active_chat(harness)
    ben = await harness.counsellor("ben", "Ben")
    await share_records_key(anna, ben)
    assert (await visitor.call("consent", {"answer": "yes", "version": "v2"}))["ok"]
    key, body = sealed_record()
    answer = await anna.call("handoff", {"chat_id": visitor.chat_id, "consent_version": "v2",
                                         "sealed_key": key, "body": body})
    assert answer["ok"]
    record_id = answer["record_id"]
    codename = (await visitor.expect("codename"))["codename"]
    assert len(codename.split()) == 7

    # Another counsellor of the team, holding a grant, lists and opens it; the opening is
    # audited.
    items = (await ben.call("records", {}))["items"]
    assert [i["record_id"] for i in items] == [record_id]
    assert set(items[0]) == {"record_id", "created", "retain_until", "counsellor_id"}
    record = (await ben.call("record_open", {"record_id": record_id}))["record"]
    assert record["sealed_key"] == key and record["body"] == body
    note = random_ct(60)
    assert (await ben.call("record_note", {"record_id": record_id, "body": note}))["ok"]
    again = (await anna.call("record_open", {"record_id": record_id, "export": True}))["record"]
    assert [n["body"] for n in again["notes"]] == [note]
    trail = await harness.app[RECORDS].audit_trail(record_id)
    assert [(t["user_id"], t["action"]) for t in trail] == [
        ("anna", "create"), ("ben", "open"), ("ben", "note"), ("anna", "export")]

    # The visitor comes back later with the codename; the chat goes to Anna first.
    await visitor.end()
    back = await harness.visitor()
    opened = await back.call("return", {"codename": codename.upper(), "lang": "de"})
    assert opened["ok"]
    queue = (await ben.sync())["queue"]
    item = next(i for i in queue if i["chat_id"] == opened["chat_id"])
    assert item["record_id"] == record_id and item["preferred"] == "anna"
    assert item["entry"] == "return"
    assert (await ben.accept(opened["chat_id"]))["error"] == "reserved"
    assert (await anna.accept(opened["chat_id"]))["ok"]

    # Withdrawing consent deletes the record at once.
    assert (await back.call("withdraw", {"codename": codename}))["ok"]
    assert (await ben.call("records", {}))["items"] == []
    assert (await back.call("withdraw", {"codename": codename}))["error"] == "not_found"
    stranger = await harness.visitor()
    assert (await stranger.call("return", {"codename": codename}))["error"] == "not_found"


async def test_message_drop_is_answered_and_read_back_with_its_code(
    harness: Harness,
) -> None:
    visitor = await harness.visitor()
    keys = crypto.drop_keys(crypto.generate_drop_code())
    payload = {"lookup": crypto.b64encode(keys.lookup), "sealed_key": random_ct(80),
               "body": random_ct(300), "reply_pk": crypto.b64encode(keys.reply_pk)}
    assert (await visitor.call("drop", payload))["error"] == "bad_state"
    assert (await visitor.call("drop_start", {"lang": "de"})) == {"ok": True}
    assert (await visitor.call("drop", payload))["ok"]
    check = {"lookup": payload["lookup"]}
    assert (await visitor.call("drop_check", check)) == {
        "ok": True, "answered": False, "answer": None,
        "rounds": [{"round": 1, "answered": False, "answer": None}]}

    anna = await harness.counsellor("anna", "Anna", on_duty=False)
    await share_records_key(anna)
    drops = (await anna.call("drops", {}))["items"]
    assert len(drops) == 1 and drops[0]["answered"] is False
    drop = (await anna.call("drop_open", {"drop_id": drops[0]["drop_id"]}))["drop"]
    assert drop["body"] == payload["body"] and drop["reply_pk"] == payload["reply_pk"]
    assert drop["lookup"] == payload["lookup"]
    reply = signed_answer(Pki().identity("Anna"), drop, "Wir melden uns.")
    assert (await anna.call("drop_answer", {"drop_id": drop["drop_id"], "answer": reply}))["ok"]
    later = await harness.visitor()
    assert (await later.call("drop_check", check)) == {
        "ok": True, "answered": True, "answer": reply,
        "rounds": [{"round": 1, "answered": True, "answer": reply}]}


async def test_record_survives_a_killed_server(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    redis_server.flush()
    env = {
        "CHATSERVER_REDIS_URL": redis_server.url,
        "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CHATSERVER_KDF_COST": "min",
    }
    node = Node(env, tmp_path / "node.log")
    node.start()
    token = await counsellor_token(node, redis_server.url, "anna")
    anna, visitor = CounsellorClient(node.url, token), VisitorClient(node.url)
    try:
        await anna.connect()
        await visitor.connect()
        await anna.duty(True)
        await share_records_key(anna)
        await visitor.request()
        await anna.accept(visitor.chat_id)
        await visitor.call("consent", {"answer": "yes", "version": "v2"})
        key, body = sealed_record()
        answer = await anna.call("handoff", {"chat_id": visitor.chat_id,
                                             "consent_version": "v2", "sealed_key": key,
                                             "body": body})
        assert answer["ok"]
        node.stop(signal.SIGKILL)  # no chance to flush anything after the acknowledgement
    finally:
        await anna.disconnect()
        await visitor.disconnect()
    node.start()
    again = CounsellorClient(node.url, token)
    try:
        await again.connect()
        record = (await again.call("record_open", {"record_id": answer["record_id"]}))["record"]
        assert record["body"] == body and record["sealed_key"] == key
    finally:
        await again.disconnect()
        node.stop()
