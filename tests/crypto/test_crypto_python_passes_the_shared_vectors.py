"""chatserver/crypto.py reproduces tests/vectors/e2e.json and refuses its bad cases by code."""

from __future__ import annotations

import json
from typing import Any

import nacl.bindings as sodium
import pytest

from chatserver import crypto
from tests.support.paths import VECTORS
from tests.vectors import generate

VECTORS: dict[str, Any] = json.loads(
    (VECTORS / "e2e.json").read_text("utf-8"))


def _pair() -> tuple[crypto.VisitorSession, crypto.CounsellorSession]:
    hs = VECTORS["handshake"]
    visitor = crypto.VisitorSession(
        crypto.b64decode(VECTORS["org"]["public_key"]), hs["chat_id"],
        VECTORS["revocations"]["list"], now=VECTORS["now"],
        rng=generate.fixed(bytes.fromhex(hs["visitor_esk"])))
    counsellor = crypto.CounsellorSession(
        crypto.SigningSeed(bytes.fromhex(VECTORS["identity"]["seed"])), VECTORS["certificate"],
        hs["chat_id"], rng=generate.fixed(bytes.fromhex(hs["counsellor_esk"])))
    return visitor, counsellor


def test_regenerating_the_vectors_gives_the_committed_file() -> None:
    assert generate.build() == VECTORS


def test_handshake_and_messages_match_byte_for_byte() -> None:
    visitor, counsellor = _pair()
    hello = visitor.hello()
    assert hello.hex() == VECTORS["handshake"]["visitor_hello"]
    reply = counsellor.receive(hello).reply
    assert reply is not None and reply.hex() == VECTORS["handshake"]["counsellor_hello"]
    got = visitor.receive(reply)
    assert got.payload["pseudonym"] == VECTORS["handshake"]["pseudonym"]
    assert visitor.safety_number() == VECTORS["handshake"]["safety_number"]
    for m in VECTORS["messages"]:
        src, dst = (visitor, counsellor) if m["from"] == "visitor" else (counsellor, visitor)
        frame = src.encrypt(m["payload"], nonce=bytes.fromhex(m["nonce"]))
        assert frame.hex() == m["frame"]
        assert dst.receive(frame).payload == m["payload"]


@pytest.mark.parametrize("case", VECTORS["rejections"], ids=lambda c: c["name"])
def test_bad_frames_are_refused_with_the_vector_code(case: dict[str, Any]) -> None:
    visitor, counsellor = _pair()
    counsellor.receive(visitor.hello())
    v2c = [m for m in VECTORS["messages"] if m["from"] == "visitor"]
    for m in v2c[:case["delivered"]]:
        counsellor.receive(bytes.fromhex(m["frame"]))
    frame = bytes.fromhex(case["frame"])
    if case["error"] is None:
        assert counsellor.receive(frame).kind == "message"
        return
    with pytest.raises(crypto.CryptoError) as err:
        counsellor.receive(frame)
    assert err.value.code == case["error"]
    follow = v2c[case["delivered"]]
    assert counsellor.receive(bytes.fromhex(follow["frame"])).payload == follow["payload"]


@pytest.mark.parametrize("case", VECTORS["hello_rejections"], ids=lambda c: c["name"])
def test_forged_counsellor_hellos_are_refused_with_the_vector_code(case: dict[str, Any]) -> None:
    visitor, _ = _pair()
    with pytest.raises(crypto.CryptoError) as err:
        visitor.receive(bytes.fromhex(case["frame"]))
    assert err.value.code == case["error"]
    assert not visitor.established
    assert visitor.receive(bytes.fromhex(VECTORS["handshake"]["counsellor_hello"])).kind \
        == "established"


@pytest.mark.parametrize("case", VECTORS["certificate_cases"], ids=lambda c: c["name"])
def test_certificates_are_judged_as_in_the_vectors(case: dict[str, Any]) -> None:
    org = crypto.b64decode(VECTORS["org"]["public_key"])
    revoked = frozenset(crypto.b64decode(k) for k in VECTORS["revocations"]["revoked"])
    if case["error"] is None:
        assert crypto.verify_certificate(case["certificate"], org, VECTORS["now"], revoked)
        return
    with pytest.raises(crypto.CertificateError) as err:
        crypto.verify_certificate(case["certificate"], org, VECTORS["now"], revoked)
    assert err.value.code == case["error"]


def test_sealed_vector_opens() -> None:
    s = VECTORS["seal"]
    opened = crypto.open_sealed(bytes.fromhex(s["recipient_sk"]), bytes.fromhex(s["recipient_pk"]),
                                bytes.fromhex(s["sealed"]))
    assert opened.hex() == s["message"]


def _continuing() -> tuple[crypto.VisitorSession, crypto.CounsellorSession,
                           crypto.VisitorSession, crypto.CounsellorSession]:
    visitor, counsellor = _pair()
    visitor.receive(counsellor.receive(visitor.hello()).reply or b"")
    c = VECTORS["continuity"]
    hs = VECTORS["handshake"]
    visitor2 = crypto.VisitorSession(
        crypto.b64decode(VECTORS["org"]["public_key"]), hs["chat_id"],
        VECTORS["revocations"]["list"], now=VECTORS["now"],
        rng=generate.fixed(bytes.fromhex(c["visitor_esk"])))
    counsellor2 = crypto.CounsellorSession(
        crypto.SigningSeed(bytes.fromhex(VECTORS["identity"]["seed"])), VECTORS["certificate"],
        hs["chat_id"], previous=counsellor, rng=generate.fixed(bytes.fromhex(c["counsellor_esk"])))
    return visitor, counsellor, visitor2, counsellor2


def test_a_continued_hello_matches_and_is_vouched_for_by_the_previous_session() -> None:
    visitor, _, visitor2, counsellor2 = _continuing()
    c = VECTORS["continuity"]
    hello = visitor2.hello(visitor)
    assert hello.hex() == c["continued_hello"]
    got = counsellor2.receive(hello)
    assert got.payload["continued"] is True
    assert got.reply is not None and got.reply.hex() == c["counsellor_hello"]
    visitor2.receive(got.reply)
    assert visitor2.safety_number() == c["safety_number"] == counsellor2.safety_number()


@pytest.mark.parametrize("case", VECTORS["continuity"]["not_continued"], ids=lambda c: c["name"])
def test_a_hello_the_previous_session_does_not_vouch_for_is_not_continued(
        case: dict[str, Any]) -> None:
    *_, counsellor2 = _continuing()
    assert counsellor2.receive(bytes.fromhex(case["frame"])).payload["continued"] is False


def test_a_continued_hello_to_a_console_without_a_previous_session_is_not_continued() -> None:
    _, counsellor = _pair()
    got = counsellor.receive(bytes.fromhex(VECTORS["continuity"]["continued_hello"]))
    assert got.kind == "established" and got.payload["continued"] is False


def test_a_cut_continued_hello_is_refused() -> None:
    *_, counsellor2 = _continuing()
    with pytest.raises(crypto.CryptoError) as err:
        counsellor2.receive(bytes.fromhex(VECTORS["continuity"]["truncated"]))
    assert err.value.code == "truncated"


DROPS = VECTORS["drops"]


def test_a_drop_code_is_made_typed_back_and_derived_as_in_the_vectors() -> None:
    assert crypto.generate_drop_code(generate.fixed(bytes.fromhex(DROPS["random"]))) \
        == DROPS["code"]
    for typed in [DROPS["code"], *DROPS["typed"]]:
        assert crypto.drop_code(typed) == DROPS["canonical"], typed
    for text in DROPS["not_codes"]:
        assert crypto.drop_code(text) is None, text
    keys = crypto.drop_keys(DROPS["typed"][0])
    assert crypto.b64encode(keys.lookup) == DROPS["lookup"]
    assert keys.reply_sk.hex() == DROPS["reply_sk"]
    assert crypto.b64encode(keys.reply_pk) == DROPS["reply_pk"]


def test_a_reading_code_is_made_typed_back_among_the_words_and_derived_as_in_the_vectors(
        ) -> None:
    reader = VECTORS["reader"]
    chunks = [bytes.fromhex(c) for c in reader["random"]]
    assert crypto.generate_reader_code(generate.fixed(*chunks)) == reader["code"]
    assert all(any(c in "23456789" for c in g) for g in reader["code"].split("-"))
    for typed in reader["typed"]:
        assert crypto.split_codename(typed) == (reader["words"], reader["canonical"]), typed
    for text in reader["not_codes"]:
        assert crypto.split_codename(text)[1] is None, text
    keys = crypto.reader_keys(reader["canonical"])
    assert keys.sk.hex() == reader["sk"] and crypto.b64encode(keys.pk) == reader["pk"]


def test_a_signed_drop_answer_matches_and_opens_with_the_reply_key() -> None:
    keys = crypto.drop_keys(DROPS["code"])
    sealed = crypto.seal(keys.reply_pk, bytes.fromhex(DROPS["answer_plaintext"]),
                         rng=generate.fixed(bytes.fromhex(DROPS["answer_esk"])))
    ident = crypto.SigningSeed(bytes.fromhex(VECTORS["identity"]["seed"]))
    assert crypto.sign_drop_answer(ident, VECTORS["certificate"], keys.lookup, sealed) \
        == DROPS["answer"]
    opened = crypto.open_sealed(keys.reply_sk, keys.reply_pk,
                                crypto.b64decode(DROPS["answer"]["sealed"]))
    assert crypto.decode_payload(opened)["body"] == "Wir sind für Sie da."


@pytest.mark.parametrize("case", DROPS["answer_cases"], ids=lambda c: c["name"])
def test_drop_answers_are_judged_as_in_the_vectors(case: dict[str, Any]) -> None:
    org = crypto.b64decode(VECTORS["org"]["public_key"])
    revoked = crypto.verify_revocation_list(VECTORS["revocations"]["list"], org, VECTORS["now"])

    def check() -> crypto.Certified:
        return crypto.verify_drop_answer(case["answer"], crypto.b64decode(case["lookup"]), org,
                                         VECTORS["now"], revoked)

    if case["error"] is None:
        assert check().pseudonym == "Anna"
        return
    with pytest.raises(crypto.CryptoError) as err:
        check()
    assert err.value.code == case["error"]


@pytest.mark.parametrize("case", VECTORS["records_key"]["cases"], ids=lambda c: c["name"])
def test_records_keys_are_sealed_to_only_as_the_vectors_certify(case: dict[str, Any]) -> None:
    org = crypto.b64decode(VECTORS["org"]["public_key"])
    revoked = frozenset(crypto.b64decode(k) for k in VECTORS["records_key"]["revoked"])

    def check() -> bytes:
        return crypto.verify_records_key(case["records_pk"], case["certificate"], org,
                                         VECTORS["now"], revoked)

    if case["error"] is None:
        assert crypto.b64encode(check()) == case["records_pk"]
        return
    with pytest.raises(crypto.CertificateError) as err:
        check()
    assert err.value.code == case["error"]


@pytest.mark.parametrize("case", VECTORS["box_key"]["cases"], ids=lambda c: c["name"])
def test_box_keys_lead_to_a_certified_counsellor_only_as_in_the_vectors(
        case: dict[str, Any]) -> None:
    org = crypto.b64decode(VECTORS["org"]["public_key"])
    revoked = frozenset(crypto.b64decode(k) for k in VECTORS["revocations"]["revoked"])

    def check() -> crypto.Certified:
        return crypto.verify_box_key(case["certificate"], case["box_pk"], case["signature"],
                                     org, VECTORS["now"], revoked)

    if case["error"] is None:
        assert check().pseudonym == case["certificate"]["pseudonym"]
        return
    with pytest.raises(crypto.CertificateError) as err:
        check()
    assert err.value.code == case["error"]


def test_the_box_key_signature_and_the_fingerprint_match() -> None:
    b = VECTORS["box_key"]
    identity = crypto.SigningSeed(bytes.fromhex(VECTORS["identity"]["seed"]))
    assert crypto.b64encode(crypto.sign_box_key(identity, crypto.b64decode(b["box_pk"]))) \
        == b["signature"]
    assert crypto.fingerprint(identity.public_key) == b["fingerprint"]


PADDING = VECTORS["padding"]


def test_records_notes_and_drops_are_padded_as_in_the_vectors() -> None:
    assert list(crypto.PAD_BUCKETS) == PADDING["buckets"]
    for case in PADDING["cases"]:
        padded = crypto.pad(bytes.fromhex(case["data"]))
        assert padded.hex() == case["padded"]
        assert crypto.unpad(padded).hex() == case["data"]


@pytest.mark.parametrize("case", PADDING["sizes"], ids=lambda c: str(c["length"]))
def test_a_plaintext_is_padded_to_the_bucket_in_the_vectors(case: dict[str, Any]) -> None:
    if case["bucket"] is None:
        with pytest.raises(crypto.PayloadError):
            crypto.pad(bytes(case["length"]))
        return
    assert len(crypto.pad(bytes(case["length"]))) == case["bucket"]


def test_an_unpadded_plaintext_stored_before_padding_opens_unchanged() -> None:
    for data in PADDING["legacy"]:
        assert crypto.unpad(bytes.fromhex(data)).hex() == data


@pytest.mark.parametrize("case", PADDING["bad"], ids=lambda c: c["name"])
def test_malformed_padding_is_refused_with_the_vector_code(case: dict[str, Any]) -> None:
    with pytest.raises(crypto.CryptoError) as err:
        crypto.unpad(bytes.fromhex(case["padded"]))
    assert err.value.code == case["error"]


def test_a_padded_case_record_opens_to_its_plaintext() -> None:
    r = PADDING["record"]
    body = crypto.b64decode(r["body"])
    assert len(body) == 24 + crypto.PAD_BUCKETS[0] + 16
    opened = sodium.crypto_secretbox_open(body[24:], body[:24], bytes.fromhex(r["key"]))
    assert crypto.unpad(opened).hex() == r["plaintext"]
