"""Write ``tests/vectors/e2e.json``: known answers from ``chatserver/crypto.py`` for both languages.

Every secret comes from a fixed seed, so running this again gives the same file. Run it after a
deliberate protocol change only: ``.venv/bin/python -m tests.vectors.generate``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from chatserver import crypto

OUT = Path(__file__).with_name("e2e.json")
NOW = 1_800_000_000
DAY = 86400
# A point of order 8 on Curve25519: any scalar times it is the identity, so X25519 gives zeros.
LOW_ORDER_POINT = bytes.fromhex(
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


def seed(name: str, size: int = 32) -> bytes:
    """A fixed pseudo-secret for ``name``."""
    return hashlib.sha512(b"erstkontakt test vector " + name.encode()).digest()[:size]


def fixed(*chunks: bytes) -> Callable[[int], bytes]:
    """A stand-in for os.urandom that returns ``chunks`` in order."""
    queue = list(chunks)

    def rng(n: int) -> bytes:
        chunk = queue.pop(0)
        assert len(chunk) == n
        return chunk

    return rng


def _pair(chat_id: str, org: crypto.SigningSeed, ident: crypto.SigningSeed,
          cert: dict[str, Any], revocations: dict[str, Any], nonces: list[bytes]
          ) -> tuple[crypto.VisitorSession, crypto.CounsellorSession]:
    visitor = crypto.VisitorSession(org.public_key, chat_id, revocations, now=NOW,
                                    rng=fixed(seed("visitor esk"), *nonces))
    counsellor = crypto.CounsellorSession(ident, cert, chat_id,
                                          rng=fixed(seed("counsellor esk"), *nonces))
    return visitor, counsellor


def reader() -> dict[str, Any]:
    """A reading code made from fixed randomness (a group without a digit 2-9 is drawn again),
    typed back among the codename's words, and its key pair."""
    chunks = [bytes([0, 1, 10, 31]), seed("reader a", 4), seed("reader b", 4), seed("reader c", 4),
              seed("reader d", 4), seed("reader e", 4), seed("reader f", 4), seed("reader g", 4)]
    used: list[bytes] = []

    def rng(n: int) -> bytes:
        used.append(chunks[len(used)])
        return used[-1]

    code = crypto.generate_reader_code(rng)
    canonical = code.replace("-", "")
    keys = crypto.reader_keys(canonical)
    words = "wald haus see berg tal fluss stein"
    return {
        "random": [c.hex() for c in used],
        "code": code,
        "typed": [f"{words} {code}", f"{words.upper()} {code.upper().replace('-', ' ')}",
                  f"{words} {code.replace('0', 'o').replace('1', 'l')}"],
        "words": words,
        "not_codes": [words, f"{words} {code[:-1]}", f"{words} {code}x"],
        "canonical": canonical,
        "sk": keys.sk.hex(),
        "pk": crypto.b64encode(keys.pk),
    }


def drops(org: crypto.SigningSeed, ident: crypto.SigningSeed, cert: dict[str, Any],
          revoked_ident: crypto.SigningSeed) -> dict[str, Any]:
    """Drop codes, their lookup values and reply keys, and signed answers good and bad."""
    code = crypto.generate_drop_code(fixed(seed("drop code", 20)))
    keys = crypto.drop_keys(code)
    other = crypto.drop_keys(crypto.generate_drop_code(fixed(seed("other drop code", 20))))
    plain = crypto.encode_payload({"t": "answer", "body": "Wir sind für Sie da."})
    sealed = crypto.seal(keys.reply_pk, plain, rng=fixed(seed("answer esk")))
    answer = crypto.sign_drop_answer(ident, cert, keys.lookup, sealed)
    lookup = crypto.b64encode(keys.lookup)

    def case(name: str, signed: Any, error: str | None, for_lookup: str = lookup
             ) -> dict[str, Any]:
        return {"name": name, "answer": signed, "lookup": for_lookup, "error": error}

    def signed_by(key: crypto.SigningSeed, c: dict[str, Any], data: bytes) -> dict[str, Any]:
        return dict(answer, certificate=c, sig=crypto.b64encode(key.sign(data)))

    flipped = bytearray(sealed)
    flipped[40] ^= 1
    uncertified = crypto.SigningSeed(seed("uncertified identity"))
    stranger = crypto.SigningSeed(seed("other org"))  # a key the organisation never certified
    stranger_cert = crypto.issue_certificate(stranger, uncertified.public_key, "Anna",
                                             NOW - DAY, NOW + 90 * DAY,
                                             serial=seed("serial uncertified", 16))
    revoked_cert = crypto.issue_certificate(org, revoked_ident.public_key, "Rolf", NOW - DAY,
                                            NOW + 90 * DAY, serial=seed("serial revoked", 16))
    wrong_label = crypto.LABEL + b"/drop-question\x00" + keys.lookup + sealed
    cases = [
        case("valid", answer, None),
        case("sealed answer changed after signing",
             dict(answer, sealed=crypto.b64encode(bytes(flipped))), "forged"),
        case("signed under another label", signed_by(ident, cert, wrong_label), "forged"),
        case("signed for another drop", answer, "forged", crypto.b64encode(other.lookup)),
        case("unsigned", {"sealed": answer["sealed"], "certificate": cert}, "forged"),
        case("no certificate", {"sealed": answer["sealed"], "sig": answer["sig"]},
             "certificate"),
        case("signed by a key the organisation did not certify",
             signed_by(uncertified, stranger_cert,
                       crypto.drop_answer_bytes(keys.lookup, sealed)), "certificate"),
        case("signed by another key under Anna's certificate",
             signed_by(uncertified, cert, crypto.drop_answer_bytes(keys.lookup, sealed)),
             "forged"),
        case("signed by a revoked counsellor",
             signed_by(revoked_ident, revoked_cert,
                       crypto.drop_answer_bytes(keys.lookup, sealed)), "revoked"),
    ]
    return {
        "random": seed("drop code", 20).hex(),
        "code": code,
        "typed": [code.upper().replace("-", " "), code.replace("-", ""),
                  " " + code.replace("0", "o").replace("1", "l") + " "],
        "not_codes": ["eins zwei drei vier fuenf sechs sieben", code[:-1],
                      code[:-1] + "u", "abcd-efgh-jkmn-pqrs-tvwx-yz"],
        "canonical": code.replace("-", ""),
        "lookup": lookup,
        "reply_sk": keys.reply_sk.hex(),
        "reply_pk": crypto.b64encode(keys.reply_pk),
        "answer_plaintext": plain.hex(),
        "answer_esk": seed("answer esk").hex(),
        "answer": answer,
        "answer_cases": cases,
    }


def padding() -> dict[str, Any]:
    """Padded plaintexts of records, notes and drops; sizes at the bucket edges; old plaintexts
    that pass unchanged; malformed padding; a case record boxed as the console boxes it."""
    record = crypto.encode_payload({"t": "note", "body": "Rückruf vereinbart."})
    key, nonce = seed("record key"), seed("record nonce", 24)
    body = nonce + sodium.crypto_secretbox(crypto.pad(record), nonce, key)
    header = crypto.PAD_HEADER
    sizes = [0, 1, 1024 - header, 1024 - header + 1, 4096 - header, 4096 - header + 1,
             crypto.PAD_BUCKETS[-1] - header, crypto.PAD_BUCKETS[-1] - header + 1]

    def size(n: int) -> int | None:
        try:
            return crypto.pad_bucket_for(n)
        except crypto.PayloadError:
            return None

    cut = crypto.pad(b"x")
    dirty = bytearray(crypto.pad(b"x"))
    dirty[-1] = 1
    return {
        "buckets": list(crypto.PAD_BUCKETS),
        "cases": [{"data": d.hex(), "padded": crypto.pad(d).hex()}
                  for d in (b"", b"Hallo", record)],
        "sizes": [{"length": n, "bucket": size(n)} for n in sizes],
        "legacy": [d.hex() for d in (b"", record, "Übergabe: bitte zurückrufen".encode())],
        "bad": [
            {"name": "unknown version", "padded": (b"\xff\x02" + cut[2:]).hex(),
             "error": "malformed"},
            {"name": "not a bucket", "padded": cut[:1000].hex(), "error": "truncated"},
            {"name": "length beyond the bucket",
             "padded": (crypto.PAD_MARK + (2000).to_bytes(4, "big")).ljust(1024, b"\0").hex(),
             "error": "malformed"},
            {"name": "fill not zero", "padded": bytes(dirty).hex(), "error": "malformed"},
        ],
        "record": {"key": key.hex(), "nonce": nonce.hex(), "plaintext": record.hex(),
                   "body": crypto.b64encode(body)},
    }


def build() -> dict[str, Any]:
    """Every known answer, as one JSON-ready object."""
    org = crypto.SigningSeed(seed("org"))
    other_org = crypto.SigningSeed(seed("other org"))
    ident = crypto.SigningSeed(seed("identity"))
    revoked_ident = crypto.SigningSeed(seed("revoked identity"))
    cert = crypto.issue_certificate(org, ident.public_key, "Anna", NOW - DAY, NOW + 90 * DAY,
                                    serial=seed("serial", 16))
    revocations = crypto.issue_revocation_list(org, NOW - 3600, [revoked_ident.public_key])

    def certificate_case(name: str, c: dict[str, Any], error: str | None) -> dict[str, Any]:
        return {"name": name, "certificate": c, "error": error}

    tampered = dict(cert, pseudonym="Bert")
    cert_cases = [
        certificate_case("valid", cert, None),
        certificate_case("expired", crypto.issue_certificate(
            org, ident.public_key, "Anna", NOW - 100 * DAY, NOW - DAY,
            serial=seed("serial expired", 16)), "expired"),
        certificate_case("not yet valid", crypto.issue_certificate(
            org, ident.public_key, "Anna", NOW + DAY, NOW + 90 * DAY,
            serial=seed("serial future", 16)), "expired"),
        certificate_case("revoked", crypto.issue_certificate(
            org, revoked_ident.public_key, "Rolf", NOW - DAY, NOW + 90 * DAY,
            serial=seed("serial revoked", 16)), "revoked"),
        certificate_case("signed by another organisation", crypto.issue_certificate(
            other_org, ident.public_key, "Anna", NOW - DAY, NOW + 90 * DAY,
            serial=seed("serial other", 16)), "certificate"),
        certificate_case("pseudonym changed after signing", tampered, "certificate"),
        certificate_case("issued as a string", dict(cert, issued=str(cert["issued"])),
                         "certificate"),
    ]

    chat_id = "c-8f3a1e2b"
    script: list[tuple[str, dict[str, Any]]] = [
        ("visitor", {"t": "text", "body": "Hallo, ich möchte aussteigen."}),
        ("counsellor", {"t": "text", "body": "Hallo! Schön, dass Sie schreiben. 👋"}),
        ("visitor", {"t": "text", "body": "x" * 900}),
        ("visitor", {"t": "consent", "version": "v1", "answer": True}),
        ("counsellor", {"t": "text", "body": "ü" * 1500}),
        ("visitor", {"t": "text", "body": "line\nbreak \"quoted\" \\ tab\t \u0001 </script>"}),
        ("counsellor", {"t": "text", "body": "z" * 9000}),
    ]
    nonces = [seed(f"nonce {i}", 24) for i in range(len(script))]
    visitor, counsellor = _pair(chat_id, org, ident, cert, revocations, [])
    vhello = visitor.hello()
    answered = counsellor.receive(vhello)
    assert answered.reply is not None
    chello = answered.reply
    established = visitor.receive(chello)
    assert visitor.safety_number() == counsellor.safety_number()
    messages = []
    for i, (sender, payload) in enumerate(script):
        src, dst = (visitor, counsellor) if sender == "visitor" else (counsellor, visitor)
        frame = src.encrypt(payload, nonce=nonces[i])
        assert dst.receive(frame).payload == payload
        messages.append({"from": sender, "payload": payload, "nonce": nonces[i].hex(),
                         "frame": frame.hex()})

    # A second handshake in the same chat that the first session vouches for.
    visitor2 = crypto.VisitorSession(org.public_key, chat_id, revocations, now=NOW,
                                     rng=fixed(seed("visitor esk 2")))
    counsellor2 = crypto.CounsellorSession(ident, cert, chat_id, previous=counsellor,
                                           rng=fixed(seed("counsellor esk 2")))
    continued_hello = visitor2.hello(visitor)
    continued = counsellor2.receive(continued_hello)
    assert continued.payload["continued"] is True and continued.reply is not None
    visitor2.receive(continued.reply)
    assert visitor2.safety_number() == counsellor2.safety_number()
    flipped_tag = continued_hello[:-1] + bytes([continued_hello[-1] ^ 0x01])
    continuity = {
        "visitor_esk": seed("visitor esk 2").hex(),
        "counsellor_esk": seed("counsellor esk 2").hex(),
        "continued_hello": continued_hello.hex(),
        "counsellor_hello": continued.reply.hex(),
        "safety_number": visitor2.safety_number(),
        "not_continued": [
            {"name": "plain hello", "frame": visitor2.hello().hex()},
            {"name": "tag bit flipped", "frame": flipped_tag.hex()},
            {"name": "tag from another chat", "frame": (
                continued_hello[:34] + crypto.continuity_tag(
                    counsellor._continuity or b"", "c-other", continued_hello[2:34])).hex()},
        ],
        "truncated": continued_hello[:-1].hex(),
    }

    first_v2c = bytes.fromhex(messages[0]["frame"])
    second_v2c = bytes.fromhex(messages[2]["frame"])
    flipped = bytearray(first_v2c)
    flipped[100] ^= 0x01
    wrong_counter = bytearray(first_v2c)
    wrong_counter[8] = 2
    rejections = [
        {"name": "payload bit flipped", "delivered": 0, "frame": bytes(flipped).hex(),
         "error": "tampered"},
        {"name": "nonce bit flipped", "delivered": 0,
         "frame": (first_v2c[:20] + bytes([first_v2c[20] ^ 0x80]) + first_v2c[21:]).hex(),
         "error": "tampered"},
        {"name": "counter changed", "delivered": 0, "frame": bytes(wrong_counter).hex(),
         "error": "tampered"},
        {"name": "replayed", "delivered": 1, "frame": first_v2c.hex(), "error": "replayed"},
        {"name": "truncated", "delivered": 0, "frame": first_v2c[:200].hex(),
         "error": "truncated"},
        {"name": "cut below the smallest bucket", "delivered": 0,
         "frame": first_v2c[:30].hex(), "error": "truncated"},
        {"name": "too far ahead", "delivered": 0,
         "frame": (first_v2c[:1] + (crypto.WINDOW + 1).to_bytes(8, "big")
                   + first_v2c[9:]).hex(), "error": "reordered"},
        {"name": "late but inside the window opens", "delivered": 0,
         "frame": second_v2c.hex(), "error": None},
        {"name": "unknown frame type", "delivered": 0, "frame": "7f" + first_v2c[1:].hex(),
         "error": "malformed"},
    ]

    # A server in the middle swaps the counsellor's chat key, or the certificate.
    mitm_sk = seed("mitm esk")
    mitm_pk = crypto.box_keypair(fixed(mitm_sk))[1]
    swapped_key = chello[:2] + mitm_pk + chello[34:]
    other_ident = crypto.SigningSeed(seed("other identity"))
    other_cert = crypto.issue_certificate(org, other_ident.public_key, "Anna", NOW - DAY,
                                          NOW + 90 * DAY, serial=seed("serial mitm", 16))
    other_json = json.dumps(other_cert, separators=(",", ":"), sort_keys=True).encode()
    swapped_cert = chello[:98] + len(other_json).to_bytes(2, "big") + other_json
    hello_rejections = [
        {"name": "chat key swapped", "frame": swapped_key.hex(), "error": "handshake"},
        {"name": "certificate swapped for another certified counsellor",
         "frame": swapped_cert.hex(), "error": "handshake"},
        {"name": "truncated", "frame": chello[:-5].hex(), "error": "truncated"},
    ]
    weak_visitor_hello = bytes([crypto.VISITOR_HELLO, crypto.VERSION]) + LOW_ORDER_POINT

    r_sk = seed("records sk")
    r_pk = crypto.box_keypair(fixed(r_sk))[1]
    sealed = crypto.seal(r_pk, b"record key material", rng=fixed(seed("seal esk")))

    # The records key's certificate: what widget and console check before sealing to it.
    rcert = crypto.issue_records_certificate(org, r_pk, NOW - DAY, NOW + 365 * DAY,
                                             serial=seed("records serial", 16))
    retired_sk = seed("retired records sk")
    retired_pk = crypto.box_keypair(fixed(retired_sk))[1]
    written_pk = crypto.box_keypair(fixed(seed("database-written records sk")))[1]

    def records_case(name: str, served: bytes, c: Any, error: str | None) -> dict[str, Any]:
        return {"name": name, "records_pk": crypto.b64encode(served), "certificate": c,
                "error": error}

    records_cases = [
        records_case("valid", r_pk, rcert, None),
        records_case("served key written into the database", written_pk, rcert,
                     "certificate"),
        records_case("no certificate", r_pk, None, "certificate"),
        records_case("signed by another organisation", r_pk, crypto.issue_records_certificate(
            other_org, r_pk, NOW - DAY, NOW + 365 * DAY, serial=seed("records serial o", 16)),
            "certificate"),
        records_case("certificate for the written key by another organisation", written_pk,
                     crypto.issue_records_certificate(
                         other_org, written_pk, NOW - DAY, NOW + 365 * DAY,
                         serial=seed("records serial w", 16)), "certificate"),
        records_case("expired", r_pk, crypto.issue_records_certificate(
            org, r_pk, NOW - 400 * DAY, NOW - DAY, serial=seed("records serial e", 16)),
            "expired"),
        records_case("not yet valid", r_pk, crypto.issue_records_certificate(
            org, r_pk, NOW + DAY, NOW + 365 * DAY, serial=seed("records serial f", 16)),
            "expired"),
        records_case("retired key on the revocation list", retired_pk,
                     crypto.issue_records_certificate(
                         org, retired_pk, NOW - DAY, NOW + 365 * DAY,
                         serial=seed("records serial r", 16)), "revoked"),
        records_case("expiry changed after signing", r_pk,
                     dict(rcert, expires=rcert["expires"] + DAY), "certificate"),
        records_case("issued as a string", r_pk, dict(rcert, issued=str(rcert["issued"])),
                     "certificate"),
        # A counsellor certificate's signature never counts for a records key (other label).
        records_case("counsellor certificate signature", ident.public_key, {
            "v": crypto.VERSION, "records_pk": cert["key"], "issued": cert["issued"],
            "expires": cert["expires"], "serial": cert["serial"], "sig": cert["sig"]},
            "certificate"),
    ]

    # A counsellor's box key, signed by their certified identity key: what a grant needs.
    box_sk = seed("box sk")
    box_pk = crypto.box_keypair(fixed(box_sk))[1]
    box_sig = crypto.sign_box_key(ident, box_pk)
    attacker_pk = crypto.box_keypair(fixed(seed("attacker box sk")))[1]
    other_box_ident = crypto.SigningSeed(seed("other box identity"))
    other_box_cert = crypto.issue_certificate(org, other_box_ident.public_key, "Bert",
                                              NOW - DAY, NOW + 90 * DAY,
                                              serial=seed("serial box other", 16))
    revoked_cert = crypto.issue_certificate(org, revoked_ident.public_key, "Rolf", NOW - DAY,
                                            NOW + 90 * DAY, serial=seed("serial box rev", 16))

    def box_case(name: str, c: Any, pk: bytes, sig: bytes,
                 error: str | None) -> dict[str, Any]:
        return {"name": name, "certificate": c, "box_pk": crypto.b64encode(pk),
                "signature": crypto.b64encode(sig), "error": error}

    box_cases = [
        box_case("valid", cert, box_pk, box_sig, None),
        box_case("box key swapped for the server's", cert, attacker_pk, box_sig, "certificate"),
        box_case("signature made by another certified counsellor", cert, box_pk,
                 crypto.sign_box_key(other_box_ident, box_pk), "certificate"),
        box_case("certificate swapped for another counsellor's", other_box_cert, box_pk,
                 box_sig, "certificate"),
        box_case("signature bit flipped", cert, box_pk,
                 bytes([box_sig[0] ^ 0x01]) + box_sig[1:], "certificate"),
        box_case("signed by a revoked counsellor", revoked_cert, box_pk,
                 crypto.sign_box_key(revoked_ident, box_pk), "revoked"),
        box_case("records key certificate taken for a counsellor certificate", {
            "v": crypto.VERSION, "key": rcert["records_pk"], "pseudonym": "Anna",
            "issued": rcert["issued"], "expires": rcert["expires"], "serial": rcert["serial"],
            "sig": rcert["sig"]}, box_pk, box_sig, "certificate"),
        box_case("no certificate", None, box_pk, box_sig, "certificate"),
    ]

    hmac_key = seed("hmac key", 40)
    chain0 = seed("chain key")
    ratchet = []
    ck = chain0
    for _ in range(3):
        mk, ck = crypto._Chain.step(ck)
        ratchet.append({"message_key": mk.hex(), "next_chain_key": ck.hex()})

    return {
        "note": "generated by tests/vectors/generate.py from chatserver/crypto.py",
        "now": NOW,
        "window": crypto.WINDOW,
        "buckets": list(crypto.BUCKETS),
        "hmac_sha512": [
            {"key": hmac_key.hex(), "msg": b"message".hex(),
             "mac": crypto.hmac_sha512(hmac_key, b"message").hex()},
            {"key": (b"k" * 200).hex(), "msg": "",
             "mac": crypto.hmac_sha512(b"k" * 200, b"").hex()},
        ],
        "hkdf_sha512": {"salt": seed("salt").hex(), "ikm": seed("ikm").hex(),
                        "info": b"info".hex(),
                        "okm": crypto.hkdf_sha512(seed("salt"), seed("ikm"), b"info").hex()},
        "ratchet": {"chain_key": chain0.hex(), "steps": ratchet},
        "org": {"seed": org.seed().hex(), "public_key": crypto.b64encode(org.public_key)},
        "identity": {"seed": ident.seed().hex(),
                     "public_key": crypto.b64encode(ident.public_key)},
        "certificate": cert,
        "certificate_cases": cert_cases,
        "revocations": {
            "list": revocations, "max_age": 7 * DAY,
            "revoked": [crypto.b64encode(revoked_ident.public_key)],
            "stale_now": NOW - 3600 + 7 * DAY + 1,
            "forged": dict(revocations, revoked=[]),
        },
        "handshake": {
            "chat_id": chat_id, "visitor_esk": seed("visitor esk").hex(),
            "counsellor_esk": seed("counsellor esk").hex(), "visitor_hello": vhello.hex(),
            "counsellor_hello": chello.hex(),
            "pseudonym": established.payload["pseudonym"],
            "safety_number": visitor.safety_number(),
            "weak_visitor_hello": weak_visitor_hello.hex(),
        },
        "continuity": continuity,
        "messages": messages,
        "rejections": rejections,
        "hello_rejections": hello_rejections,
        "seal": {"recipient_sk": r_sk.hex(), "recipient_pk": r_pk.hex(),
                 "esk": seed("seal esk").hex(), "message": b"record key material".hex(),
                 "sealed": sealed.hex()},
        "drops": drops(org, ident, cert, revoked_ident),
        "reader": reader(),
        "records_key": {
            "revoked": [crypto.b64encode(retired_pk)],
            "certificate": rcert,
            "cases": records_cases,
        },
        "padding": padding(),
        "box_key": {
            "box_pk": crypto.b64encode(box_pk),
            "signature": crypto.b64encode(box_sig),
            "fingerprint": crypto.fingerprint(ident.public_key),
            "cases": box_cases,
        },
    }


def main() -> None:
    """Regenerate the vector file."""
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    main()
