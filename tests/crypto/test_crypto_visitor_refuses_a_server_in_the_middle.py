"""The visitor only derives keys with a chat key signed by a certified, unrevoked counsellor."""

from __future__ import annotations

import json

import pytest

from chatserver import crypto
from tests.support.e2e_clients import Identity, Pki

CHAT = "chat-7"
# A point of order 8 on Curve25519; every X25519 result with it is all zeros.
LOW_ORDER = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


def counsellor_hello(identity: Identity, hello: bytes, chat_id: str = CHAT) -> bytes:
    session = crypto.CounsellorSession(identity.signing, identity.certificate, chat_id)
    reply = session.receive(hello).reply
    assert reply is not None
    return reply


def with_certificate(reply: bytes, cert: dict[str, object]) -> bytes:
    data = json.dumps(cert, separators=(",", ":"), sort_keys=True).encode()
    return reply[:98] + len(data).to_bytes(2, "big") + data


def test_a_genuine_counsellor_is_accepted_and_both_sides_see_one_safety_number() -> None:
    pki = Pki()
    identity = pki.identity("Anna")
    visitor = pki.visitor_session(CHAT)
    counsellor = crypto.CounsellorSession(identity.signing, identity.certificate, CHAT)
    reply = counsellor.receive(visitor.hello()).reply
    assert reply is not None
    got = visitor.receive(reply)
    assert got.kind == "established" and got.payload["pseudonym"] == "Anna"
    assert visitor.counsellor is not None and visitor.counsellor.pseudonym == "Anna"
    assert visitor.safety_number() == counsellor.safety_number() == got.payload["safety_number"]
    groups = visitor.safety_number().split(" ")
    assert len(groups) == 12 and all(len(g) == 5 and g.isdigit() for g in groups)


def test_a_swapped_counsellor_chat_key_is_refused() -> None:
    pki = Pki()
    visitor = pki.visitor_session(CHAT)
    reply = counsellor_hello(pki.identity(), visitor.hello())
    server_pk = crypto.box_keypair()[1]
    with pytest.raises(crypto.HandshakeError):
        visitor.receive(reply[:2] + server_pk + reply[34:])
    assert not visitor.established


def test_a_swapped_visitor_chat_key_is_refused_by_the_visitor() -> None:
    pki = Pki()
    visitor = pki.visitor_session(CHAT)
    server = pki.visitor_session(CHAT)  # the server talks to the counsellor with its own key
    reply = counsellor_hello(pki.identity(), server.hello())
    with pytest.raises(crypto.HandshakeError):
        visitor.receive(reply)


def test_a_swapped_certificate_is_refused() -> None:
    pki = Pki()
    visitor = pki.visitor_session(CHAT)
    reply = counsellor_hello(pki.identity("Anna"), visitor.hello())
    # Another genuine certificate: the signature on the chat key no longer fits it.
    with pytest.raises(crypto.HandshakeError):
        visitor.receive(with_certificate(reply, pki.identity("Anna").certificate))
    # The server's own key, certified by an organisation it made up.
    rogue = Pki(now=pki.now)
    with pytest.raises(crypto.CertificateError):
        visitor.receive(counsellor_hello(rogue.identity("Anna"), visitor.hello()))
    assert visitor.receive(reply).kind == "established"


def test_a_hello_replayed_from_another_chat_is_refused() -> None:
    pki = Pki()
    identity = pki.identity()
    visitor = pki.visitor_session(CHAT)
    reply = counsellor_hello(identity, visitor.hello(), chat_id="chat-other")
    with pytest.raises(crypto.HandshakeError):
        visitor.receive(reply)


def test_expired_and_not_yet_valid_certificates_are_refused() -> None:
    pki = Pki()
    for issued, expires in ((pki.now - 100 * 86400, pki.now - 1),
                            (pki.now + 3600, pki.now + 86400)):
        signing = crypto.SigningSeed.generate()
        cert = crypto.issue_certificate(pki.org, signing.public_key, "Anna", issued, expires)
        visitor = pki.visitor_session(CHAT)
        with pytest.raises(crypto.ExpiredCertificate):
            visitor.receive(counsellor_hello(Identity(signing, cert), visitor.hello()))


def test_a_revoked_certificate_is_refused() -> None:
    pki = Pki()
    identity = pki.identity()
    pki.revoke(identity)
    visitor = pki.visitor_session(CHAT)
    with pytest.raises(crypto.RevokedCertificate):
        visitor.receive(counsellor_hello(identity, visitor.hello()))


def test_a_stale_or_forged_revocation_list_stops_the_visitor_before_it_starts() -> None:
    pki = Pki()
    old = crypto.issue_revocation_list(pki.org, pki.now - 8 * 86400, [])
    with pytest.raises(crypto.StaleRevocationList):
        crypto.VisitorSession(pki.org_public_key, CHAT, old, now=pki.now, max_age=7 * 86400)
    rogue = Pki(now=pki.now)
    with pytest.raises(crypto.CertificateError):
        crypto.VisitorSession(pki.org_public_key, CHAT, rogue.revocations, now=pki.now)
    dropped = dict(pki.revocations, revoked=[])
    pki.revoke(pki.identity())
    with pytest.raises(crypto.CertificateError):
        crypto.VisitorSession(pki.org_public_key, CHAT, dict(pki.revocations, revoked=[]),
                              now=pki.now)
    assert crypto.VisitorSession(pki.org_public_key, CHAT, dropped, now=pki.now)


def test_an_invalid_chain_is_refused() -> None:
    pki = Pki()
    identity = pki.identity("Anna")
    visitor = pki.visitor_session(CHAT)
    reply = counsellor_hello(identity, visitor.hello())
    cert = identity.certificate
    for bad in (dict(cert, pseudonym="Bert"), dict(cert, expires=cert["expires"] + 1),
                dict(cert, sig=cert["sig"][:-4] + "AAA="), dict(cert, key="AAAA"),
                dict(cert, v=2), {"not": "a certificate"}):
        with pytest.raises(crypto.CertificateError):
            visitor.receive(with_certificate(reply, bad))
    # A certificate signed by the counsellor's own key instead of the organisation's.
    self_signed = crypto.issue_certificate(identity.signing, identity.public_key, "Anna",
                                           pki.now, pki.now + 86400)
    with pytest.raises(crypto.CertificateError):
        visitor.receive(with_certificate(reply, self_signed))


def test_an_all_zero_shared_secret_is_refused_on_both_sides() -> None:
    pki = Pki()
    identity = pki.identity()
    counsellor = crypto.CounsellorSession(identity.signing, identity.certificate, CHAT)
    with pytest.raises(crypto.WeakKey):
        counsellor.receive(bytes([crypto.VISITOR_HELLO, crypto.VERSION]) + LOW_ORDER)
    assert not counsellor.established
    # A counsellor (or its compromised console) that signs a low-order chat key.
    visitor = pki.visitor_session(CHAT)
    sig = identity.signing.sign(crypto._hello_transcript(CHAT, visitor.public_key, LOW_ORDER))
    cert = json.dumps(identity.certificate, separators=(",", ":"), sort_keys=True).encode()
    forged = (bytes([crypto.COUNSELLOR_HELLO, crypto.VERSION]) + LOW_ORDER + sig
              + len(cert).to_bytes(2, "big") + cert)
    with pytest.raises(crypto.WeakKey):
        visitor.receive(forged)
    assert not visitor.established


def test_a_counsellor_cannot_use_a_certificate_for_another_key() -> None:
    pki = Pki()
    anna, bert = pki.identity("Anna"), pki.identity("Bert")
    with pytest.raises(crypto.CertificateError):
        crypto.CounsellorSession(anna.signing, bert.certificate, CHAT)
