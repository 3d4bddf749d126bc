"""Privacy canaries through a whole visit, with the Python clients (the browser run follows in
``tests/browser/test_privacy_canaries_*.py`` once widget and console exist).

A visitor connects from its own loopback address (127.0.0.77) with a canary User-Agent, a
canary X-Forwarded-For and X-Real-IP, chats end-to-end encrypted with plaintext canaries,
consents to a case record, gets a codename, comes back with it, and leaves a message drop
that a counsellor answers. The server is a real ``python -m chatserver serve`` process on
Redis and SQLite. Afterwards every byte the server sent to any client, every Redis key and
value, every database row (and the raw database files), and every log line are scanned: none
holds the plaintext, the address, the User-Agent or the forwarded addresses.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.secret
import pytest

from chatserver import crypto
from tests.support.clients import CounsellorClient
from tests.support.database import database_rows
from tests.support.drops import signed_answer
from tests.support.e2e_clients import E2ECounsellor, E2EVisitor, Pki
from tests.support.hardening import AddressedVisitor
from tests.support.nodes import Node, counsellor_token
from tests.support.proxy import RecordingProxy, loopback_peers
from tests.support.records import share_records_key
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.hardening

ADDRESS = "127.0.0.77"
USER_AGENT = "Mozilla/5.0 (Canary; UA-5c1e77) KanarienBrowser/77.0"
FORWARDED = "198.51.100.77"
REAL_IP = "203.0.113.78"
PLAINTEXT = ["Ich will raus, Kanarienvogel 4f2a", "Wir sind fuer dich da, Kanarie 91b0",
             "Zurueck mit meinem Codenamen, Kanarie 7c3d", "Nachricht im Briefkasten 2e8f",
             "Nach der Uebergabe noch geschrieben, Kanarie 5a6b"]
DROP_CODE = crypto.generate_drop_code()


@pytest.fixture
def node(redis_server: RedisServer, tmp_path: Path) -> Iterator[Node]:
    redis_server.flush()
    server = Node({
        "CHATSERVER_REDIS_URL": redis_server.url,
        "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CHATSERVER_KDF_COST": "min",
        # One visitor does four costly things from one address within a minute here.
        "CHATSERVER_ADDR_REQUESTS_PER_MIN": "60",
    }, tmp_path / "node.log")
    server.start()
    yield server
    server.stop()


def seal_for_team(team_pk: bytes, text: str) -> tuple[str, str]:
    """What the console does with a record or a drop: a fresh key sealed to the team."""
    key = os.urandom(32)
    body = nacl.secret.SecretBox(key).encrypt(text.encode())
    return crypto.b64encode(crypto.seal(team_pk, key)), crypto.b64encode(body)


def appended(team_pk: bytes, *lines: str) -> str:
    """What the console appends to a record after the hand-off: the lines, padded, sealed."""
    text = json.dumps({"t": "lines", "lines": [["them", line, 0] for line in lines]})
    return crypto.b64encode(crypto.seal(team_pk, crypto.pad(text.encode())))


def visitor_client(url: str) -> AddressedVisitor:
    return AddressedVisitor(url, ADDRESS, headers={
        "User-Agent": USER_AGENT, "X-Forwarded-For": FORWARDED, "X-Real-IP": REAL_IP,
    })


async def test_a_whole_visit_leaves_no_trace(
    node: Node, redis_server: RedisServer, tmp_path: Path
) -> None:
    proxy = RecordingProxy("127.0.0.1", node.port)
    await proxy.start()
    token = await counsellor_token(node, redis_server.url, "anna")
    pki = Pki()
    team_pk, _team_sk = crypto.box_keypair()
    received: list[Any] = []  # everything the clients got, decoded
    raw_anna = CounsellorClient(proxy.url, token)
    await raw_anna.connect()
    assert (await raw_anna.duty(True))["ok"]
    anna = E2ECounsellor(raw_anna, pki.identity("Anna"))
    first = visitor_client(proxy.url)
    await first.connect()
    try:
        # The first chat, end to end, with consent to a record.
        visitor = E2EVisitor(first, pki)
        assert (await visitor.request())["ok"]
        assert ADDRESS in loopback_peers(node.port)  # the server really sees 127.0.0.77
        await asyncio.gather(visitor.handshake("accepted"), anna.accept(visitor.chat_id))
        assert (await visitor.send_text(PLAINTEXT[0]))["ok"]
        assert await anna.receive_text(visitor.chat_id) == PLAINTEXT[0]
        assert (await anna.send_text(visitor.chat_id, PLAINTEXT[1]))["ok"]
        assert await visitor.receive_text() == PLAINTEXT[1]
        assert (await first.call("consent", {"answer": "yes", "version": "v1"}))["ok"]
        await share_records_key(raw_anna)  # appending later lines needs a grant
        sealed_key, body = seal_for_team(team_pk, PLAINTEXT[0] + " / " + PLAINTEXT[1])
        handed = await raw_anna.call("handoff", {"chat_id": visitor.chat_id,
                                                 "consent_version": "v1",
                                                 "sealed_key": sealed_key, "body": body})
        assert handed["ok"], handed
        codename = (await first.expect("codename"))["codename"]
        # A line written after the hand-off goes into the record too (continuity).
        assert (await visitor.send_text(PLAINTEXT[4]))["ok"]
        assert await anna.receive_text(visitor.chat_id) == PLAINTEXT[4]
        assert (await raw_anna.call("record_append", {
            "chat_id": visitor.chat_id, "body": appended(team_pk, PLAINTEXT[4])}))["ok"]
        assert (await first.end())["ok"]

        # Back later, from the same address, with the codename.
        second = visitor_client(proxy.url)
        await second.connect()
        back = E2EVisitor(second, pki)
        opened = await second.call("return", {"codename": codename, "lang": "de"})
        assert opened["ok"], opened
        second.chat_id = opened["chat_id"]
        await asyncio.gather(back.handshake("accepted"), anna.accept(second.chat_id))
        assert (await back.send_text(PLAINTEXT[2]))["ok"]
        assert await anna.receive_text(second.chat_id) == PLAINTEXT[2]
        assert (await raw_anna.call("record_append", {
            "chat_id": second.chat_id, "body": appended(team_pk, PLAINTEXT[2])}))["ok"]
        assert (await raw_anna.end(second.chat_id))["ok"]

        # A message drop under a code the visitor made, answered with a signature.
        keys = crypto.drop_keys(DROP_CODE)
        drop_key, drop_body = seal_for_team(team_pk, PLAINTEXT[3])
        assert (await second.call("drop_start", {"lang": "de"}))["ok"]
        assert (await second.call("drop", {
            "lookup": crypto.b64encode(keys.lookup), "sealed_key": drop_key, "body": drop_body,
            "reply_pk": crypto.b64encode(keys.reply_pk)}))["ok"]
        drop_id = (await raw_anna.call("drops", {}))["items"][0]["drop_id"]
        drop = (await raw_anna.call("drop_open", {"drop_id": drop_id}))["drop"]
        signed = signed_answer(anna.identity, drop, "Antwort " + PLAINTEXT[1])
        assert (await raw_anna.call("drop_answer", {"drop_id": drop_id, "answer": signed}))["ok"]
        checked = await second.call("drop_check", {"lookup": crypto.b64encode(keys.lookup)})
        assert checked.get("answered"), checked
        answer = checked["answer"]["sealed"]
        assert answer == signed["sealed"]
        for client in (first, second, raw_anna):
            for event in list(client._queues):
                received.extend(client.drain(event))
        await second.disconnect()
    finally:
        await first.disconnect()
        await raw_anna.disconnect()
        await eventually(proxy.idle, what="every connection through the proxy to close")
        await proxy.close()

    needles = {
        "plaintext": [p.encode() for p in PLAINTEXT],
        "address": [ADDRESS.encode()],
        "user agent": [USER_AGENT.encode(), b"UA-5c1e77", b"KanarienBrowser"],
        "forwarded": [FORWARDED.encode(), REAL_IP.encode()],
        # The drop code stays on the visitor's side, in every spelling.
        "drop code": [DROP_CODE.encode(), DROP_CODE.replace("-", "").encode(),
                      DROP_CODE.upper().encode()],
    }
    # The recording is real: the requests carried the canaries, the answers the ciphertext.
    assert USER_AGENT.encode() in proxy.up and FORWARDED.encode() in proxy.up
    assert answer.encode() in proxy.down
    places: dict[str, bytes] = {
        "frames to clients": bytes(proxy.down),
        "decoded events": json.dumps(received, default=str).encode(),
        "redis": redis_server.dump(),
        "database rows": database_rows(tmp_path / "db.sqlite3"),
        "database files": b"".join(p.read_bytes() for p in tmp_path.glob("db.sqlite3*")),
        "log": node.output(),
    }
    rows = places["database rows"]
    assert b"\nrecords: (" in b"\n" + rows and b"\ndrops: (" in b"\n" + rows, \
        "the scanned database holds the record and the drop"
    assert rows.count(b"\nrecord_entries: (") == 2, "and the two lines appended later"
    for where, data in places.items():
        for what, variants in needles.items():
            for needle in variants:
                assert needle not in data, f"{what} found in {where}"
                assert base64.b64encode(needle) not in data, f"{what} (base64) in {where}"
    # Plaintext never even crossed the wire towards the server.
    for needle in needles["plaintext"]:
        assert needle not in proxy.up
