"""Python and the browser module (run by node) talk to each other in both roles, and seal."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from chatserver import crypto
from tests.support.e2e_clients import Pki
from tests.support.paths import ROOT

PEER = ROOT / "tests" / "support" / "e2e_peer.mjs"
CHAT = "chat-cross-1"
SCRIPT = [
    {"t": "text", "body": "Hallo aus Python"},
    {"t": "text", "body": "Grüße, \"quotes\", \\ and\nnewlines \u2028 😀 " * 40},
    {"t": "consent", "version": "v2", "answer": False},
    {"t": "text", "body": "ß" * 7000},
]


class NodePeer:
    """One node process running tests/support/e2e_peer.mjs."""

    def __init__(self) -> None:
        node = shutil.which("node")
        assert node, "node is needed for the cross-language tests"
        self.proc = subprocess.Popen([node, str(PEER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, encoding="utf-8")

    def __call__(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


@pytest.fixture
def node() -> Iterator[NodePeer]:
    peer = NodePeer()
    yield peer
    peer.close()


def test_browser_visitor_with_python_counsellor(node: NodePeer) -> None:
    pki = Pki()
    identity = pki.identity("Anna")
    hello = node("visitor", org=crypto.b64encode(pki.org_public_key), chat_id=CHAT,
                 revocations=pki.revocations, now=pki.now)["hello"]
    counsellor = crypto.CounsellorSession(identity.signing, identity.certificate, CHAT)
    answered = counsellor.receive(crypto.b64decode(hello))
    assert answered.reply is not None
    got = node("receive", frame=crypto.b64encode(answered.reply))
    assert got["kind"] == "established" and got["payload"]["pseudonym"] == "Anna"
    assert got["payload"]["safetyNumber"] == counsellor.safety_number()
    for payload in SCRIPT:
        frame = crypto.b64encode(counsellor.encrypt(payload))
        assert node("receive", frame=frame) == {"kind": "message", "payload": payload}
        back = node("encrypt", payload=payload)["frame"]
        assert counsellor.receive(crypto.b64decode(back)).payload == payload


def test_python_visitor_with_browser_counsellor(node: NodePeer) -> None:
    pki = Pki()
    identity = pki.identity("Bert")
    node("counsellor", identity=crypto.b64encode(identity.signing.seed()),
         certificate=identity.certificate, chat_id=CHAT)
    visitor = pki.visitor_session(CHAT)
    answered = node("receive", frame=crypto.b64encode(visitor.hello()))
    assert answered["kind"] == "established"
    got = visitor.receive(crypto.b64decode(answered["reply"]))
    assert got.payload["pseudonym"] == "Bert"
    assert node("safety")["safety"] == visitor.safety_number()
    for payload in SCRIPT:
        frame = crypto.b64encode(visitor.encrypt(payload))
        assert node("receive", frame=frame) == {"kind": "message", "payload": payload}
        back = node("encrypt", payload=payload)["frame"]
        assert visitor.receive(crypto.b64decode(back)).payload == payload
    # The browser side refuses a replay with the same error code as Python.
    frame = crypto.b64encode(visitor.encrypt({"t": "text", "body": "once"}))
    assert node("receive", frame=frame)["kind"] == "message"
    assert node("receive", frame=frame)["error"] == "replayed"


def test_browser_visitor_refuses_a_swapped_chat_key(node: NodePeer) -> None:
    pki = Pki()
    hello = node("visitor", org=crypto.b64encode(pki.org_public_key), chat_id=CHAT,
                 revocations=pki.revocations, now=pki.now)["hello"]
    identity = pki.identity()
    counsellor = crypto.CounsellorSession(identity.signing, identity.certificate, CHAT)
    reply = counsellor.receive(crypto.b64decode(hello)).reply
    assert reply is not None
    swapped = reply[:2] + crypto.box_keypair()[1] + reply[34:]
    assert node("receive", frame=crypto.b64encode(swapped))["error"] == "handshake"
    pki.revoke(identity)
    revoked = node("visitor", org=crypto.b64encode(pki.org_public_key), chat_id=CHAT,
                   revocations=pki.revocations, now=pki.now)
    reply = crypto.CounsellorSession(identity.signing, identity.certificate, CHAT).receive(
        crypto.b64decode(revoked["hello"])).reply
    assert reply is not None
    assert node("receive", frame=crypto.b64encode(reply))["error"] == "revoked"


def test_sealed_boxes_open_across_languages(node: NodePeer) -> None:
    sk, pk = crypto.box_keypair()
    message = b"records key \x00\xff" * 3
    sealed = node("seal", pk=crypto.b64encode(pk), message=crypto.b64encode(message))["sealed"]
    assert crypto.open_sealed(sk, pk, crypto.b64decode(sealed)) == message
    ours = crypto.b64encode(crypto.seal(pk, message))
    opened = node("open", sk=crypto.b64encode(sk), pk=crypto.b64encode(pk), sealed=ours)
    assert crypto.b64decode(opened["message"]) == message
    other_sk, other_pk = crypto.box_keypair()
    refused = node("open", sk=crypto.b64encode(other_sk), pk=crypto.b64encode(other_pk),
                   sealed=ours)
    assert refused["error"] == "tampered"
