"""A full chat through a real server, with transfer: the plaintext never crosses the relay.

The clients talk to the server through a plain TCP proxy on loopback that records every byte
in both directions. They use the HTTP long-polling transport, so nothing on the wire is
masked: a leaked plaintext would show up verbatim in the recording.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from chatserver import crypto
from tests.support.clients import CounsellorClient, VisitorClient
from tests.support.e2e_clients import E2ECounsellor, E2EVisitor, Pki
from tests.support.harness import Harness
from tests.support.proxy import RecordingProxy
from tests.support.redis_server import RedisServer

CANARIES = ["canary-7f3e91-visitor", "canary-c41d08-counsellor", "canary-9a6b22-after-transfer"]


@pytest.fixture
async def proxy(harness: Harness) -> AsyncIterator[RecordingProxy]:
    target = urlsplit(harness.url)
    assert target.hostname is not None and target.port is not None
    p = RecordingProxy(target.hostname, target.port)
    await p.start()
    yield p
    await p.close()


async def _counsellor(harness: Harness, proxy: RecordingProxy, name: str,
                      pseudonym: str) -> CounsellorClient:
    client = CounsellorClient(proxy.url, await harness.token(name, pseudonym=pseudonym))
    await client.connect(transports=["polling"])
    harness.track(client)
    assert (await client.duty(True))["ok"]
    return client


async def test_canaries_never_cross_the_relay_in_plaintext(
    harness: Harness, proxy: RecordingProxy, backend: str, caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    pki = Pki()
    anna = E2ECounsellor(await _counsellor(harness, proxy, "anna", "Anna"), pki.identity("Anna"))
    bert = E2ECounsellor(await _counsellor(harness, proxy, "bert", "Bert"), pki.identity("Bert"))
    raw = VisitorClient(proxy.url)
    await raw.connect(transports=["polling"])
    harness.track(raw)
    visitor = E2EVisitor(raw, pki)
    assert (await visitor.request())["ok"]

    established, _ = await asyncio.gather(visitor.handshake("accepted"),
                                          anna.accept(visitor.chat_id))
    assert established.payload["pseudonym"] == "Anna"
    assert visitor.session is not None
    assert visitor.session.safety_number() == anna.sessions[visitor.chat_id].safety_number()

    assert (await visitor.send_text(CANARIES[0]))["ok"]
    assert await anna.receive_text(visitor.chat_id) == CANARIES[0]
    assert (await anna.send_text(visitor.chat_id, CANARIES[1]))["ok"]
    assert await visitor.receive_text() == CANARIES[1]
    consent = {"t": "consent", "version": "v2", "answer": True}
    assert (await visitor.send(consent))["ok"]
    assert await anna.receive(visitor.chat_id) == consent

    # Transfer: a fresh handshake with the new counsellor, new keys.
    first_safety = visitor.session.safety_number()
    assert (await anna.raw.transfer(visitor.chat_id, "bert"))["ok"]
    bert.raw.adopt((await bert.raw.expect("assigned"))["chat"])
    established, _ = await asyncio.gather(visitor.handshake("transferred"),
                                          bert.handshake(visitor.chat_id))
    assert established.payload["pseudonym"] == "Bert"
    assert visitor.session.safety_number() != first_safety
    assert (await bert.send_text(visitor.chat_id, CANARIES[2]))["ok"]
    assert await visitor.receive_text() == CANARIES[2]
    assert (await visitor.send_text(CANARIES[2]))["ok"]
    assert await bert.receive_text(visitor.chat_id) == CANARIES[2]

    redis_server: RedisServer | None = request.getfixturevalue("redis_server") if backend else None
    stored = redis_server.dump() if redis_server else b""
    # Complete without waiting: the proxy records every byte before it passes it on.
    wire = bytes(proxy.up + proxy.down)
    # The recording is real: it holds the chat id and every envelope in both directions.
    assert visitor.chat_id.encode() in wire
    cts = re.findall(rb'"ct":"([A-Za-z0-9+/=]+)"', wire)
    assert len({ct for ct in cts}) >= 9
    frames = [base64.b64decode(ct) for ct in cts]
    assert any(f[0] == crypto.COUNSELLOR_HELLO for f in frames)
    assert all(len(f) in crypto.BUCKETS for f in frames if f[0] == crypto.MESSAGE)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for canary in CANARIES:
        needle = canary.encode()
        assert needle not in wire
        assert not any(needle in f for f in frames)
        assert needle not in stored
        assert canary not in logged

