"""End-to-end encryption of chats on PyNaCl, as specified in ``docs/protocol.md``.

The browser twin is ``jslib/e2e.js``; both pass the known answers in ``tests/vectors/``. The
relay only ever carries the frames built here. Keys live in objects whose ``repr`` shows none
of them, and errors say what was wrong with a frame, never what was in it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing

VERSION = 1
LABEL = b"erstkontakt-e2e-v1"

# Frame types: the first byte of every frame the relay carries for a chat.
VISITOR_HELLO = 0x01
COUNSELLOR_HELLO = 0x02
MESSAGE = 0x03
CONTINUED_HELLO = 0x04

# A whole message frame is exactly one of these sizes, so its length tells only the bucket.
BUCKETS = (256, 1024, 4096, 16384)
HEADER = 1 + 8  # type, counter
NONCE = 24
TAG = 16
INNER = HEADER + 4  # the header again, inside the box, and the payload length
MESSAGE_OVERHEAD = HEADER + NONCE + TAG + INNER
MAX_PAYLOAD = BUCKETS[-1] - MESSAGE_OVERHEAD
# How far a counter may jump ahead, and how far back a late message is still accepted.
WINDOW = 32

KEY_BYTES = 32
CONTINUITY_TAG_BYTES = 32
SIG_BYTES = 64
SERIAL_BYTES = 16
MAX_PSEUDONYM_BYTES = 64
# A visitor's clock may run a little behind the organisation's.
CLOCK_SKEW_S = 300
DEFAULT_REVOCATION_MAX_AGE_S = 30 * 86400

Random = Callable[[int], bytes]


class CryptoError(Exception):
    """Base of every refusal by the end-to-end layer."""

    code = "crypto"


class MalformedFrame(CryptoError):
    """A frame that does not follow the wire format."""

    code = "malformed"


class TruncatedFrame(MalformedFrame):
    """A frame shorter than its format, or not one of the padding buckets."""

    code = "truncated"


class TamperedFrame(CryptoError):
    """Authentication failed: the frame was changed or was not sealed for this session."""

    code = "tampered"


class ReplayedFrame(CryptoError):
    """A counter that was already received."""

    code = "replayed"


class ReorderedFrame(CryptoError):
    """A counter outside the window: too far ahead, or too old to tell from a replay."""

    code = "reordered"


class CertificateError(CryptoError):
    """A certificate or revocation list that does not lead to the pinned organisation key."""

    code = "certificate"


class ExpiredCertificate(CertificateError):
    """A certificate outside its validity period."""

    code = "expired"


class RevokedCertificate(CertificateError):
    """A certificate whose identity key is on the revocation list."""

    code = "revoked"


class StaleRevocationList(CertificateError):
    """A revocation list older than the allowed maximum age."""

    code = "stale"


class HandshakeError(CryptoError):
    """A handshake step out of order, a bad signature on the chat key, or a weak key."""

    code = "handshake"


class WeakKey(HandshakeError):
    """A peer key that gives the all-zero shared secret (a low-order point)."""

    code = "weak_key"


class PayloadError(CryptoError):
    """A structured message that cannot be encoded, or an authentic one that is not JSON."""

    code = "payload"


# -- encodings ---------------------------------------------------------------------------


def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as on the wire."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict standard base64."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise MalformedFrame("not base64") from None


def _u16(n: int) -> bytes:
    return struct.pack(">H", n)


def _u32(n: int) -> bytes:
    return struct.pack(">I", n)


def _u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def _lp(data: bytes) -> bytes:
    return _u16(len(data)) + data


def hmac_sha512(key: bytes, msg: bytes) -> bytes:
    """HMAC-SHA-512 (RFC 2104)."""
    return hmac.new(key, msg, hashlib.sha512).digest()


def hkdf_sha512(salt: bytes, ikm: bytes, info: bytes) -> bytes:
    """HKDF-SHA-512 (RFC 5869) for one 32-byte output."""
    prk = hmac_sha512(salt, ikm)
    return hmac_sha512(prk, info + b"\x01")[:KEY_BYTES]


def _now() -> int:
    return int(time.time())


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise CertificateError(f"{what} is not a whole number of seconds")
    return value


def _key(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise CertificateError(f"{what} is not base64")
    try:
        key = b64decode(value)
    except MalformedFrame:
        raise CertificateError(f"{what} is not base64") from None
    if len(key) != KEY_BYTES:
        raise CertificateError(f"{what} has the wrong length")
    return key


def _sig(value: Any) -> bytes:
    if not isinstance(value, str):
        raise CertificateError("signature is not base64")
    try:
        sig = b64decode(value)
    except MalformedFrame:
        raise CertificateError("signature is not base64") from None
    if len(sig) != SIG_BYTES:
        raise CertificateError("signature has the wrong length")
    return sig


def _serial(value: Any) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * SERIAL_BYTES:
        raise CertificateError("serial has the wrong length")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise CertificateError("serial is not hex") from None


def _verify(public_key: bytes, data: bytes, sig: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(public_key).verify(data, sig)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def verify_signature(public_key: bytes, data: bytes, sig: bytes) -> bool:
    """True if ``sig`` is the Ed25519 signature of ``data`` by ``public_key``."""
    return _verify(public_key, data, sig)


# -- keys ------------------------------------------------------------------------------


class SigningSeed:
    """An Ed25519 signing key held by its 32-byte seed; never printed."""

    __slots__ = ("_key",)

    def __init__(self, seed: bytes) -> None:
        if len(seed) != KEY_BYTES:
            raise CryptoError("an Ed25519 seed has 32 bytes")
        self._key = nacl.signing.SigningKey(seed)

    @classmethod
    def generate(cls) -> SigningSeed:
        """A fresh random key."""
        return cls(os.urandom(KEY_BYTES))

    @property
    def public_key(self) -> bytes:
        """The Ed25519 public key."""
        return bytes(self._key.verify_key)

    def seed(self) -> bytes:
        """The secret seed, for writing the key file."""
        return bytes(self._key)

    def sign(self, data: bytes) -> bytes:
        """A detached Ed25519 signature."""
        return bytes(self._key.sign(data).signature)

    def __repr__(self) -> str:
        return "<SigningSeed>"


def box_keypair(rng: Random = os.urandom) -> tuple[bytes, bytes]:
    """A fresh X25519 key pair ``(secret, public)`` for :func:`seal`."""
    secret = rng(KEY_BYTES)
    return secret, sodium.crypto_scalarmult_base(secret)


# -- certificates and revocation ---------------------------------------------------------


def certificate_bytes(key: bytes, pseudonym: str, issued: int, expires: int,
                      serial: bytes) -> bytes:
    """What the organisation key signs for a counsellor certificate."""
    return (LABEL + b"/cert\x00" + key + _u64(issued) + _u64(expires) + serial
            + _lp(pseudonym.encode("utf-8")))


def _check_pseudonym(pseudonym: Any) -> str:
    if not isinstance(pseudonym, str) or not pseudonym.strip():
        raise CertificateError("pseudonym is missing")
    if len(pseudonym.encode("utf-8")) > MAX_PSEUDONYM_BYTES:
        raise CertificateError("pseudonym is too long")
    return pseudonym


def issue_certificate(org: SigningSeed, key: bytes, pseudonym: str, issued: int, expires: int,
                      serial: bytes | None = None) -> dict[str, Any]:
    """Certify a counsellor's Ed25519 identity key (done offline, with the org key)."""
    if len(key) != KEY_BYTES:
        raise CertificateError("identity key has the wrong length")
    _check_pseudonym(pseudonym)
    if not 0 <= issued < expires < 2**53:
        raise CertificateError("validity period is empty")
    serial = os.urandom(SERIAL_BYTES) if serial is None else serial
    if len(serial) != SERIAL_BYTES:
        raise CertificateError("serial has the wrong length")
    sig = org.sign(certificate_bytes(key, pseudonym, issued, expires, serial))
    return {"v": VERSION, "key": b64encode(key), "pseudonym": pseudonym, "issued": issued,
            "expires": expires, "serial": serial.hex(), "sig": b64encode(sig)}


@dataclass(frozen=True)
class Certified:
    """What a valid certificate vouches for."""

    identity_key: bytes = field(repr=False)
    pseudonym: str
    expires: int


def verify_certificate(cert: Any, org_public_key: bytes, now: int,
                       revoked: frozenset[bytes] = frozenset()) -> Certified:
    """Check a certificate against the pinned org key, the clock and the revoked keys."""
    if not isinstance(cert, Mapping) or cert.get("v") != VERSION:
        raise CertificateError("not a certificate of this version")
    key = _key(cert.get("key"), "identity key")
    pseudonym = _check_pseudonym(cert.get("pseudonym"))
    issued = _int(cert.get("issued"), "issued")
    expires = _int(cert.get("expires"), "expires")
    serial = _serial(cert.get("serial"))
    sig = _sig(cert.get("sig"))
    if not _verify(org_public_key, certificate_bytes(key, pseudonym, issued, expires, serial),
                   sig):
        raise CertificateError("certificate is not signed by the organisation")
    if now + CLOCK_SKEW_S < issued or now > expires:
        raise ExpiredCertificate("certificate is expired or not yet valid")
    if key in revoked:
        raise RevokedCertificate("certificate has been revoked")
    return Certified(key, pseudonym, expires)


def revocation_bytes(issued: int, revoked: list[bytes]) -> bytes:
    """What the organisation key signs for a revocation list."""
    keys = sorted(set(revoked))
    return LABEL + b"/revocations\x00" + _u64(issued) + _u32(len(keys)) + b"".join(keys)


def issue_revocation_list(org: SigningSeed, issued: int,
                          revoked: list[bytes]) -> dict[str, Any]:
    """A signed list of revoked counsellor identity keys, dated ``issued``."""
    if any(len(k) != KEY_BYTES for k in revoked):
        raise CertificateError("a revoked key has the wrong length")
    keys = sorted(set(revoked))
    sig = org.sign(revocation_bytes(issued, keys))
    return {"v": VERSION, "issued": issued, "revoked": [b64encode(k) for k in keys],
            "sig": b64encode(sig)}


def verify_revocation_list(data: Any, org_public_key: bytes, now: int,
                           max_age: int = DEFAULT_REVOCATION_MAX_AGE_S) -> frozenset[bytes]:
    """The revoked keys, if the list is signed by the org key and not older than ``max_age``."""
    if not isinstance(data, Mapping) or data.get("v") != VERSION:
        raise CertificateError("not a revocation list of this version")
    issued = _int(data.get("issued"), "issued")
    entries = data.get("revoked")
    if not isinstance(entries, list):
        raise CertificateError("revocation list has no key list")
    keys = [_key(k, "revoked key") for k in entries]
    if not _verify(org_public_key, revocation_bytes(issued, keys), _sig(data.get("sig"))):
        raise CertificateError("revocation list is not signed by the organisation")
    if now - issued > max_age:
        raise StaleRevocationList("revocation list is too old")
    return frozenset(keys)


# -- the records key and counsellors' box keys, bound to the organisation ---------------
#
# Each signature has its own label ("/records-key", "/box-key" beside "/cert" and
# "/revocations"), so nothing signed for one purpose is ever accepted for another.


def records_certificate_bytes(records_pk: bytes, issued: int, expires: int,
                              serial: bytes) -> bytes:
    """What the organisation key signs for a records-key certificate."""
    return _key_certificate_bytes(b"records-key", records_pk, issued, expires, serial)


def _key_certificate_bytes(signed: bytes, pk: bytes, issued: int, expires: int,
                           serial: bytes) -> bytes:
    return LABEL + b"/" + signed + b"\x00" + pk + _u64(issued) + _u64(expires) + serial


def _issue_key_certificate(kind: str, signed: bytes, org: SigningSeed, pk: bytes,
                           issued: int, expires: int, serial: bytes | None) -> dict[str, Any]:
    """A team key's certificate (``kind``: records or recovery), as the org key signs it;
    ``signed`` is the label of what is signed."""
    if len(pk) != KEY_BYTES:
        raise CertificateError(f"{kind} key has the wrong length")
    if not 0 <= issued < expires < 2**53:
        raise CertificateError("validity period is empty")
    serial = os.urandom(SERIAL_BYTES) if serial is None else serial
    if len(serial) != SERIAL_BYTES:
        raise CertificateError("serial has the wrong length")
    sig = org.sign(_key_certificate_bytes(signed, pk, issued, expires, serial))
    return {"v": VERSION, f"{kind}_pk": b64encode(pk), "issued": issued,
            "expires": expires, "serial": serial.hex(), "sig": b64encode(sig)}


def _verify_key_certificate(kind: str, signed: bytes, served: Any, cert: Any,
                            org_public_key: bytes, now: int, revoked: frozenset[bytes]) -> bytes:
    """The served team key (``kind``: records or recovery), if ``cert`` certifies exactly it
    under the pinned org key, in its validity period and not revoked."""
    if not isinstance(cert, Mapping) or cert.get("v") != VERSION:
        raise CertificateError(f"the {kind} key has no certificate of this version")
    certified = _key(cert.get(f"{kind}_pk"), f"{kind} key")
    issued = _int(cert.get("issued"), "issued")
    expires = _int(cert.get("expires"), "expires")
    serial = _serial(cert.get("serial"))
    sig = _sig(cert.get("sig"))
    if not _verify(org_public_key,
                   _key_certificate_bytes(signed, certified, issued, expires, serial), sig):
        raise CertificateError(f"{kind} key certificate is not signed by the organisation")
    if now + CLOCK_SKEW_S < issued or now > expires:
        raise ExpiredCertificate(f"{kind} key certificate is expired or not yet valid")
    if certified in revoked:
        raise RevokedCertificate(f"{kind} key has been revoked")
    if _key(served, f"served {kind} key") != certified:
        raise CertificateError(f"the served {kind} key is not the certified one")
    return certified


def issue_records_certificate(org: SigningSeed, records_pk: bytes, issued: int, expires: int,
                              serial: bytes | None = None) -> dict[str, Any]:
    """Certify the team's X25519 records public key (done offline, with the org key)."""
    return _issue_key_certificate("records", b"records-key", org, records_pk, issued, expires,
                                  serial)


def verify_records_key(records_pk: Any, cert: Any, org_public_key: bytes, now: int,
                       revoked: frozenset[bytes] = frozenset()) -> bytes:
    """The records public key to seal to: ``records_pk`` as served, if ``cert`` certifies
    exactly it under the pinned org key, in its validity period and not revoked."""
    return _verify_key_certificate("records", b"records-key", records_pk, cert, org_public_key,
                                   now, revoked)


def box_key_bytes(identity_pk: bytes, box_pk: bytes) -> bytes:
    """What a counsellor's identity key signs to vouch for their X25519 box key."""
    return LABEL + b"/box-key\x00" + identity_pk + box_pk


def sign_box_key(identity: SigningSeed, box_pk: bytes) -> bytes:
    """The identity key's signature over the counsellor's own box key."""
    if len(box_pk) != KEY_BYTES:
        raise CertificateError("box key has the wrong length")
    return identity.sign(box_key_bytes(identity.public_key, box_pk))


def verify_box_key(cert: Any, box_pk: Any, sig: Any, org_public_key: bytes, now: int,
                   revoked: frozenset[bytes] = frozenset()) -> Certified:
    """The certified counsellor a box key belongs to: ``cert`` leads to the org key and its
    identity key signed ``box_pk``. Only then may the records key be sealed to it."""
    certified = verify_certificate(cert, org_public_key, now, revoked)
    box = _key(box_pk, "box key")
    if not _verify(certified.identity_key, box_key_bytes(certified.identity_key, box),
                   _sig(sig)):
        raise CertificateError("box key is not signed by the certified counsellor")
    return certified


def fingerprint(key: bytes) -> str:
    """Eight groups of four hex digits that people compare to recognise a key."""
    digest = hashlib.sha512(LABEL + b"/fingerprint\x00" + key).digest()[:16]
    return " ".join(digest[i:i + 2].hex().upper() for i in range(0, 16, 2))


# -- records-key epochs and the offline recovery key (docs/protocol.md, "Rotation") --------
#
# A rotation makes a new records key pair, an *epoch*. The secret of epoch n-1 is sealed to
# the public key of epoch n (its *link*), so whoever opens the newest epoch opens every older
# one by walking the links down; nothing old is re-encrypted. Every epoch's secret is also
# sealed to the recovery key, whose secret exists only on paper (made in the key ceremony).

RECOVERY_SYMBOLS = 32  # 160 bits of Crockford's base32
RECOVERY_GROUP = 4


class WrongRecoverySecret(CryptoError):
    """A recovery secret that is not one, or not the one of the certified recovery key."""

    code = "recovery"


def recovery_certificate_bytes(recovery_pk: bytes, issued: int, expires: int,
                               serial: bytes) -> bytes:
    """What the organisation key signs for a recovery-key certificate."""
    return _key_certificate_bytes(b"recovery-key", recovery_pk, issued, expires, serial)


def issue_recovery_certificate(org: SigningSeed, recovery_pk: bytes, issued: int,
                               expires: int, serial: bytes | None = None) -> dict[str, Any]:
    """Certify the team's X25519 recovery public key (in the key ceremony, offline)."""
    return _issue_key_certificate("recovery", b"recovery-key", org, recovery_pk, issued,
                                  expires, serial)


def verify_recovery_key(recovery_pk: Any, cert: Any, org_public_key: bytes, now: int,
                        revoked: frozenset[bytes] = frozenset()) -> bytes:
    """The recovery public key to seal epochs to: ``recovery_pk`` as served, if ``cert``
    certifies exactly it under the pinned org key, in its validity period and not revoked."""
    return _verify_key_certificate("recovery", b"recovery-key", recovery_pk, cert,
                                   org_public_key, now, revoked)


def generate_recovery_secret(rng: Random = os.urandom) -> str:
    """A fresh recovery secret: 32 symbols (160 bits) in eight groups of four, to be written
    down once in the key ceremony and kept offline."""
    code = "".join(DROP_ALPHABET[b & 31] for b in rng(RECOVERY_SYMBOLS))
    return "-".join(code[i:i + RECOVERY_GROUP] for i in range(0, RECOVERY_SYMBOLS,
                                                               RECOVERY_GROUP))


def recovery_keys(text: str) -> tuple[bytes, bytes]:
    """The recovery key pair ``(secret, public)`` of a recovery secret as typed (case,
    spaces, hyphens and o/i/l for 0/1 do not matter); WrongRecoverySecret if it is none."""
    if not isinstance(text, str):
        raise WrongRecoverySecret("not a recovery secret")
    code = "".join(text.lower().split()).replace("-", "").translate(_DROP_TYPOS)
    if len(code) != RECOVERY_SYMBOLS or any(c not in DROP_ALPHABET for c in code):
        raise WrongRecoverySecret("not a recovery secret: 32 symbols in groups of four")
    sk = hashlib.sha512(LABEL + b"/recovery\x00" + code.encode("ascii")).digest()[:KEY_BYTES]
    return sk, sodium.crypto_scalarmult_base(sk)


def open_recovery(recovery_secret: str, recovery_pk: bytes, sealed: bytes,
                  epoch_pk: bytes) -> bytes:
    """An epoch's records secret from its seal to the recovery key, checked against the
    epoch's public key; WrongRecoverySecret when the secret is not the recovery key's."""
    sk, pk = recovery_keys(recovery_secret)
    if not hmac.compare_digest(pk, recovery_pk):
        raise WrongRecoverySecret("this recovery secret does not belong to the recovery key")
    records_sk = open_sealed(sk, pk, sealed)
    if len(records_sk) != KEY_BYTES or sodium.crypto_scalarmult_base(records_sk) != epoch_pk:
        raise TamperedFrame("the sealed records key is not the epoch's")
    return records_sk


def open_epochs(newest_sk: bytes, epochs: list[tuple[bytes, bytes | None]]) -> list[bytes]:
    """Every epoch's records secret, oldest first, from the newest epoch's secret.

    ``epochs`` lists ``(public key, link)`` oldest first, where the link of epoch n is the
    secret of epoch n-1 sealed to epoch n's public key (None for the first). Each secret is
    checked against its public key, so a swapped link is refused (TamperedFrame)."""
    if not epochs:
        raise CryptoError("no epochs")
    found = [newest_sk]
    for i in range(len(epochs) - 1, -1, -1):
        pk, link = epochs[i]
        sk = found[0]
        if len(sk) != KEY_BYTES or sodium.crypto_scalarmult_base(sk) != pk:
            raise TamperedFrame(f"epoch {i + 1}'s secret does not fit its public key")
        if i == 0:
            break
        if link is None:
            raise TamperedFrame(f"epoch {i + 1} has no link to the one before")
        found.insert(0, open_sealed(sk, pk, link))
    return found


def open_sealed_any(keys: list[tuple[bytes, bytes]], sealed: bytes) -> bytes:
    """Open what was sealed to one of ``keys`` (``(secret, public)`` pairs, newest first):
    a record, drop or entry does not say which epoch it was sealed to."""
    for sk, pk in keys:
        try:
            return open_sealed(sk, pk, sealed)
        except TamperedFrame:
            continue
    raise TamperedFrame("sealed message does not open with any epoch's key")


# -- sealing to a public key (case records, message drops) -------------------------------


def _seal_nonce(epk: bytes, recipient_pk: bytes) -> bytes:
    return hashlib.sha512(epk + recipient_pk).digest()[:NONCE]


def seal(recipient_pk: bytes, message: bytes, rng: Random = os.urandom) -> bytes:
    """Anonymous encryption to an X25519 key: ephemeral key + ``box``, nonce from both keys."""
    if len(recipient_pk) != KEY_BYTES:
        raise CryptoError("recipient key has the wrong length")
    esk = rng(KEY_BYTES)
    epk = sodium.crypto_scalarmult_base(esk)
    boxed = sodium.crypto_box(message, _seal_nonce(epk, recipient_pk), recipient_pk, esk)
    return epk + boxed


def open_sealed(recipient_sk: bytes, recipient_pk: bytes, sealed: bytes) -> bytes:
    """Open what :func:`seal` made for the holder of ``recipient_sk``."""
    if len(sealed) < KEY_BYTES + TAG:
        raise TruncatedFrame("sealed message is too short")
    epk = sealed[:KEY_BYTES]
    try:
        return sodium.crypto_box_open(sealed[KEY_BYTES:], _seal_nonce(epk, recipient_pk), epk,
                                      recipient_sk)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise TamperedFrame("sealed message does not open") from None


# -- padding of the long-lived ciphertexts (records, notes, drops, answers) ----------------
# What is sealed or boxed for keeping is padded first, so that its stored length tells only a
# bucket. Quadrupling from 1 KiB like the chat frames, the last bucket the largest case record
# the server accepts (schemas.RecordBody); smaller kinds stop earlier at their own limits.

PAD_BUCKETS = (1024, 4096, 16384, 65536, 262144, 524288)
# 0xff never begins UTF-8, and everything stored before padding (JSON, a note's text) is UTF-8:
# so a plaintext without this mark is an old, unpadded one and is returned as it is.
PAD_MARK = b"\xff\x01"
PAD_HEADER = len(PAD_MARK) + 4


def pad_bucket_for(length: int) -> int:
    """The padded size of a plaintext of ``length`` bytes."""
    for bucket in PAD_BUCKETS:
        if length + PAD_HEADER <= bucket:
            return bucket
    raise PayloadError("too long to keep")


def pad(data: bytes) -> bytes:
    """``data`` marked, length-prefixed and zero-filled to the smallest bucket that fits."""
    bucket = pad_bucket_for(len(data))
    return (PAD_MARK + _u32(len(data)) + data).ljust(bucket, b"\0")


def unpad(data: bytes) -> bytes:
    """What :func:`pad` padded; an old plaintext (without the mark) unchanged."""
    if data[:1] != PAD_MARK[:1]:
        return data
    if data[:len(PAD_MARK)] != PAD_MARK:
        raise MalformedFrame("unknown padding version")
    if len(data) not in PAD_BUCKETS:
        raise TruncatedFrame("padded plaintext is not a padding bucket")
    (length,) = struct.unpack(">I", data[len(PAD_MARK):PAD_HEADER])
    end = PAD_HEADER + length
    if end > len(data) or any(data[end:]):
        raise MalformedFrame("padding is malformed")
    return data[PAD_HEADER:end]


# -- anonymous message drops: the visitor's code, answers signed by a counsellor ------------

# Crockford's base32: no i, l, o or u, so that nothing reads as another symbol.
DROP_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
DROP_CODE_SYMBOLS = 20  # 100 bits
DROP_GROUP = 4
_DROP_TYPOS = str.maketrans("oil", "011")


class ForgedAnswer(CryptoError):
    """An answer to a drop that no certified counsellor signed for this drop and this text."""

    code = "forged"


@dataclass(frozen=True)
class DropKeys:
    """What a drop code gives its holder: the value the server finds the drop by, and the
    key pair its answer is sealed to."""

    lookup: bytes = field(repr=False)
    reply_sk: bytes = field(repr=False)
    reply_pk: bytes = field(repr=False)


def generate_drop_code(rng: Random = os.urandom) -> str:
    """A fresh drop code, made where the visitor is: 20 symbols (100 bits) in groups of four,
    at least one of them a digit, so that it never reads as a hand-off codename (words)."""
    while True:
        code = "".join(DROP_ALPHABET[b & 31] for b in rng(DROP_CODE_SYMBOLS))
        if any(c.isdigit() for c in code):
            return "-".join(code[i:i + DROP_GROUP]
                            for i in range(0, DROP_CODE_SYMBOLS, DROP_GROUP))


def drop_code(text: str) -> str | None:
    """The drop code a visitor typed, made canonical (case, spaces, hyphens and o/i/l for
    0/1 do not matter), or None if it is not one."""
    if not isinstance(text, str):
        return None
    code = "".join(text.lower().split()).replace("-", "").translate(_DROP_TYPOS)
    if len(code) != DROP_CODE_SYMBOLS or any(c not in DROP_ALPHABET for c in code):
        return None
    return code


def drop_keys(code: str) -> DropKeys:
    """The lookup value and the reply key pair of a drop code (docs/protocol.md, "Message
    drop"); the code itself never leaves the visitor's device."""
    canonical = drop_code(code)
    if canonical is None:
        raise CryptoError("not a drop code")
    raw = canonical.encode("ascii")
    lookup = hashlib.sha512(LABEL + b"/drop-lookup\x00" + raw).digest()[:KEY_BYTES]
    reply_sk = hashlib.sha512(LABEL + b"/drop-reply\x00" + raw).digest()[:KEY_BYTES]
    return DropKeys(lookup, reply_sk, sodium.crypto_scalarmult_base(reply_sk))


# -- the visitor's own copy of their case record (docs/protocol.md, "Continuity") ------------

READER_GROUPS = 4


@dataclass(frozen=True)
class ReaderKeys:
    """The key pair a reading code gives; the visitor's copy of their record is sealed to it."""

    sk: bytes = field(repr=False)
    pk: bytes = field(repr=False)


def generate_reader_code(rng: Random = os.urandom) -> str:
    """A fresh reading code, made where the visitor is and never sent: four groups of four
    symbols, each with a digit 2-9, so that no group ever reads as a word of a codename."""
    groups: list[str] = []
    while len(groups) < READER_GROUPS:
        group = "".join(DROP_ALPHABET[b & 31] for b in rng(DROP_GROUP))
        if any(c in "23456789" for c in group):
            groups.append(group)
    return "-".join(groups)


def split_codename(text: str) -> tuple[str, str | None]:
    """What a visitor typed, split: the codename's words (for the server) and the reading
    code (the groups with a digit; canonical, or None)."""
    parts = text.lower().split()
    words = " ".join(p for p in parts if not any(c.isdigit() for c in p))
    code = "".join(p for p in parts if any(c.isdigit() for c in p)).replace("-", "")
    code = code.translate(_DROP_TYPOS)
    valid = len(code) == READER_GROUPS * DROP_GROUP and all(c in DROP_ALPHABET for c in code)
    return words, code if valid else None


def reader_keys(code: str) -> ReaderKeys:
    """The key pair of a canonical reading code (docs/protocol.md, "Continuity")."""
    sk = hashlib.sha512(LABEL + b"/record-reader\x00" + code.encode("ascii")).digest()[:KEY_BYTES]
    return ReaderKeys(sk, sodium.crypto_scalarmult_base(sk))


def drop_answer_bytes(lookup: bytes, sealed: bytes) -> bytes:
    """What a counsellor's identity key signs for an answer: label, the drop's lookup value
    (fixed length) and the sealed answer."""
    return LABEL + b"/drop-answer\x00" + lookup + sealed


def sign_drop_answer(identity: SigningSeed, certificate: Mapping[str, Any], lookup: bytes,
                     sealed: bytes) -> dict[str, Any]:
    """An answer as it is stored and shown: the sealed text, the counsellor's certificate and
    their signature over both the drop and the sealed text."""
    if certificate.get("key") != b64encode(identity.public_key):
        raise CertificateError("certificate is for another identity key")
    if len(lookup) != KEY_BYTES:
        raise CryptoError("lookup value has the wrong length")
    return {"sealed": b64encode(sealed), "certificate": dict(certificate),
            "sig": b64encode(identity.sign(drop_answer_bytes(lookup, sealed)))}


def verify_drop_answer(answer: Any, lookup: bytes, org_public_key: bytes, now: int,
                       revoked: frozenset[bytes] = frozenset()) -> Certified:
    """The counsellor who answered the drop of ``lookup``, if the answer is signed by a key the
    organisation certified, not revoked, for this drop and this sealed text."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("sealed"), str):
        raise ForgedAnswer("not an answer")
    try:
        sealed = b64decode(answer["sealed"])
        sig = _sig(answer.get("sig"))
    except (MalformedFrame, CertificateError):
        raise ForgedAnswer("unsigned") from None
    certified = verify_certificate(answer.get("certificate"), org_public_key, now, revoked)
    if not _verify(certified.identity_key, drop_answer_bytes(lookup, sealed), sig):
        raise ForgedAnswer("not signed for this drop")
    return certified


# -- the chat session --------------------------------------------------------------------


def _hello_transcript(chat_id: str, visitor_pk: bytes, counsellor_pk: bytes) -> bytes:
    """What the counsellor's identity key signs: label and version, chat, both chat keys."""
    return (LABEL + b"/hello\x00" + _lp(chat_id.encode("utf-8")) + visitor_pk
            + counsellor_pk)


def _transcript_hash(chat_id: str, visitor_pk: bytes, counsellor_pk: bytes,
                     identity_pk: bytes) -> bytes:
    return hashlib.sha512(
        _hello_transcript(chat_id, visitor_pk, counsellor_pk) + identity_pk).digest()


def continuity_tag(key: bytes, chat_id: str, visitor_pk: bytes) -> bytes:
    """The tag by which an earlier session of ``chat_id`` vouches for a new visitor chat key."""
    return hmac_sha512(key, LABEL + b"/continue\x00" + _lp(chat_id.encode("utf-8"))
                       + visitor_pk)[:CONTINUITY_TAG_BYTES]


def safety_number(chat_id: str, visitor_pk: bytes, counsellor_pk: bytes,
                  identity_pk: bytes) -> str:
    """Twelve groups of five digits over both chat keys and the counsellor's identity."""
    digest = hashlib.sha512(LABEL + b"/safety\x00" + _transcript_hash(
        chat_id, visitor_pk, counsellor_pk, identity_pk)).digest()
    groups = (int.from_bytes(digest[i:i + 5], "big") % 100000 for i in range(0, 60, 5))
    return " ".join(f"{g:05d}" for g in groups)


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the same bytes as ``JSON.stringify`` for the same object."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("t"), str):
        raise PayloadError("a message is an object with a string field 't'")
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):
        raise PayloadError("message cannot be encoded as JSON") from None


def decode_payload(data: bytes) -> dict[str, Any]:
    """Parse an authentic message; it must be an object with a string field ``t``."""
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PayloadError("message is not UTF-8 JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("t"), str):
        raise PayloadError("message is not an object with a string field 't'")
    return payload


def bucket_for(payload_len: int) -> int:
    """The frame size a payload of this length is padded to."""
    for bucket in BUCKETS:
        if payload_len + MESSAGE_OVERHEAD <= bucket:
            return bucket
    raise PayloadError("message is too long")


class _Chain:
    """One direction's hash ratchet; ``key`` derives message ``counter``."""

    __slots__ = ("counter", "key")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.counter = 1

    @staticmethod
    def step(key: bytes) -> tuple[bytes, bytes]:
        """``(message key, next chain key)`` from a chain key."""
        return hmac_sha512(key, b"\x01")[:KEY_BYTES], hmac_sha512(key, b"\x02")[:KEY_BYTES]

    def __repr__(self) -> str:
        return f"<chain at {self.counter}>"


@dataclass(frozen=True)
class Received:
    """The result of one incoming frame."""

    kind: str  # "established" or "message"
    payload: dict[str, Any] = field(repr=False)  # plaintext: never into a log
    reply: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CounsellorInfo:
    """The certified counsellor at the other end of a visitor's session."""

    pseudonym: str
    identity_key: bytes = field(repr=False)


class _Session:
    """What both sides share: the two chains, sealing, and opening with a window."""

    def __init__(self, chat_id: str, rng: Random) -> None:
        if not isinstance(chat_id, str) or not chat_id:
            raise CryptoError("chat id is missing")
        self.chat_id = chat_id
        self._rng = rng
        self._esk: bytes | None = rng(KEY_BYTES)
        self.public_key = sodium.crypto_scalarmult_base(self._esk)
        self._send: _Chain | None = None
        self._recv: _Chain | None = None
        self._highest = 0
        self._skipped: dict[int, bytes] = {}
        self._safety = ""
        # Authenticates the next handshake of this chat (docs/protocol.md, "Key continuity").
        self._continuity: bytes | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} established={self.established}>"

    @property
    def established(self) -> bool:
        """True once the handshake is complete."""
        return self._send is not None

    def safety_number(self) -> str:
        """The number both sides can read out to each other."""
        if not self._safety:
            raise HandshakeError("no session yet")
        return self._safety

    def _derive(self, peer_pk: bytes, visitor_pk: bytes, counsellor_pk: bytes,
                identity_pk: bytes, visitor_side: bool) -> None:
        if self._esk is None:
            raise HandshakeError("this session already used its chat key")
        if len(peer_pk) != KEY_BYTES:
            raise TruncatedFrame("chat key has the wrong length")
        try:
            shared = sodium.crypto_scalarmult(self._esk, peer_pk)
        except RuntimeError:
            # libsodium itself refuses a result of all zeros; tweetnacl returns it.
            shared = bytes(KEY_BYTES)
        self._esk = None
        if not any(shared):
            raise WeakKey("weak chat key: all-zero shared secret")
        th = _transcript_hash(self.chat_id, visitor_pk, counsellor_pk, identity_pk)
        v2c = _Chain(hkdf_sha512(th, shared, LABEL + b" v2c"))
        c2v = _Chain(hkdf_sha512(th, shared, LABEL + b" c2v"))
        self._continuity = hkdf_sha512(th, shared, LABEL + b" continuity")
        self._send, self._recv = (v2c, c2v) if visitor_side else (c2v, v2c)
        self._safety = safety_number(self.chat_id, visitor_pk, counsellor_pk, identity_pk)

    def encrypt(self, payload: Mapping[str, Any], *, nonce: bytes | None = None) -> bytes:
        """Seal one structured message (``{"t": "text", "body": ...}`` and later kinds)."""
        if self._send is None:
            raise HandshakeError("no session yet")
        data = encode_payload(payload)
        bucket = bucket_for(len(data))
        chain = self._send
        header = bytes([MESSAGE]) + _u64(chain.counter)
        message_key, chain.key = _Chain.step(chain.key)
        chain.counter += 1
        inner = header + _u32(len(data)) + data
        inner += bytes(bucket - HEADER - NONCE - TAG - len(inner))
        nonce = self._rng(NONCE) if nonce is None else nonce
        return header + nonce + sodium.crypto_secretbox(inner, nonce, message_key)

    def _open(self, frame: bytes) -> dict[str, Any]:
        if self._recv is None:
            raise HandshakeError("message before the handshake")
        if len(frame) < BUCKETS[0]:
            raise TruncatedFrame("message frame is too short")
        if len(frame) not in BUCKETS:
            raise TruncatedFrame("message frame is not a padding bucket")
        header = frame[:HEADER]
        (counter,) = struct.unpack(">Q", frame[1:HEADER])
        nonce, boxed = frame[HEADER:HEADER + NONCE], frame[HEADER + NONCE:]
        chain = self._recv
        # Work on copies and commit only after the box opens: a forged frame burns nothing.
        new_skipped: dict[int, bytes] = {}
        next_chain = chain.key
        if counter == 0:
            raise MalformedFrame("counter 0 is never used")
        if counter > self._highest:
            if counter - self._highest > WINDOW:
                raise ReorderedFrame("counter is too far ahead")
            message_key = b""
            for n in range(chain.counter, counter + 1):
                message_key, next_chain = _Chain.step(next_chain)
                if n < counter:
                    new_skipped[n] = message_key
        elif counter in self._skipped:
            message_key = self._skipped[counter]
        elif counter > self._highest - WINDOW:
            raise ReplayedFrame("counter was already received")
        else:
            raise ReorderedFrame("counter is too old")
        try:
            inner = sodium.crypto_secretbox_open(boxed, nonce, message_key)
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            raise TamperedFrame("message does not authenticate") from None
        if not hmac.compare_digest(inner[:HEADER], header):
            raise TamperedFrame("message header does not match")
        if counter > self._highest:
            chain.key, chain.counter = next_chain, counter + 1
            self._skipped.update(new_skipped)
            self._highest = counter
            for old in [n for n in self._skipped if n <= counter - WINDOW]:
                del self._skipped[old]
        else:
            del self._skipped[counter]
        (length,) = struct.unpack(">I", inner[HEADER:INNER])
        if length > len(inner) - INNER:
            raise PayloadError("message length is out of range")
        return decode_payload(inner[INNER:INNER + length])

    def _message(self, frame: bytes) -> Received:
        return Received("message", self._open(frame))


class VisitorSession(_Session):
    """The visitor's side: sends a hello, then checks the counsellor's certificate chain."""

    def __init__(self, org_public_key: bytes, chat_id: str, revocation_list: Any, *,
                 now: int | None = None, max_age: int = DEFAULT_REVOCATION_MAX_AGE_S,
                 rng: Random = os.urandom) -> None:
        super().__init__(chat_id, rng)
        if len(org_public_key) != KEY_BYTES:
            raise CertificateError("organisation key has the wrong length")
        self._org = org_public_key
        self._clock: Callable[[], int] = _now if now is None else (lambda: now)
        self._revoked = verify_revocation_list(revocation_list, org_public_key, self._clock(),
                                               max_age)
        self.counsellor: CounsellorInfo | None = None

    def hello(self, previous: _Session | None = None) -> bytes:
        """The visitor-hello frame to send once the chat is accepted; with ``previous`` (an
        established session of the same chat), a continued hello that this earlier session
        authenticates."""
        if previous is None:
            return bytes([VISITOR_HELLO, VERSION]) + self.public_key
        if previous.chat_id != self.chat_id or previous._continuity is None:
            raise HandshakeError("the previous session is not an established one of this chat")
        return (bytes([CONTINUED_HELLO, VERSION]) + self.public_key
                + continuity_tag(previous._continuity, self.chat_id, self.public_key))

    def receive(self, frame: bytes) -> Received:
        """Handle a frame from the counsellor: their hello, or a message."""
        if not frame:
            raise TruncatedFrame("empty frame")
        if frame[0] == COUNSELLOR_HELLO:
            return self._accept_hello(frame)
        if frame[0] == MESSAGE:
            return self._message(frame)
        raise MalformedFrame("unknown frame type")

    def _accept_hello(self, frame: bytes) -> Received:
        if self.established or self._esk is None:
            raise HandshakeError("second counsellor hello in one session")
        head = 2 + KEY_BYTES + SIG_BYTES + 2
        if len(frame) < head:
            raise TruncatedFrame("counsellor hello is too short")
        if frame[1] != VERSION:
            raise HandshakeError("unsupported protocol version")
        counsellor_pk = frame[2:2 + KEY_BYTES]
        sig = frame[2 + KEY_BYTES:head - 2]
        (n,) = struct.unpack(">H", frame[head - 2:head])
        if len(frame) != head + n:
            raise TruncatedFrame("counsellor hello has the wrong length")
        try:
            cert = json.loads(frame[head:].decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise CertificateError("certificate is not JSON") from None
        certified = verify_certificate(cert, self._org, self._clock(), self._revoked)
        transcript = _hello_transcript(self.chat_id, self.public_key, counsellor_pk)
        if not _verify(certified.identity_key, transcript, sig):
            raise HandshakeError("chat key is not signed by the certified counsellor")
        self._derive(counsellor_pk, self.public_key, counsellor_pk, certified.identity_key,
                     visitor_side=True)
        self.counsellor = CounsellorInfo(certified.pseudonym, certified.identity_key)
        return Received("established", {"pseudonym": certified.pseudonym,
                                        "safety_number": self.safety_number()})


class CounsellorSession(_Session):
    """The counsellor's side: answers the visitor's hello with a signed chat key."""

    def __init__(self, identity: SigningSeed, certificate: Mapping[str, Any], chat_id: str, *,
                 previous: _Session | None = None, rng: Random = os.urandom) -> None:
        super().__init__(chat_id, rng)
        if previous is not None and previous.chat_id != chat_id:
            raise HandshakeError("the previous session belongs to another chat")
        # The key a continued hello must be authenticated with, if this chat had a session.
        self._previous = previous._continuity if previous is not None else None
        if certificate.get("key") != b64encode(identity.public_key):
            raise CertificateError("certificate is for another identity key")
        self._identity = identity
        self._cert = json.dumps(dict(certificate), separators=(",", ":"), sort_keys=True,
                                ensure_ascii=False).encode("utf-8")

    def receive(self, frame: bytes) -> Received:
        """Handle a frame from the visitor: their hello (``reply`` holds ours), or a message."""
        if not frame:
            raise TruncatedFrame("empty frame")
        if frame[0] in (VISITOR_HELLO, CONTINUED_HELLO):
            return self._answer_hello(frame)
        if frame[0] == MESSAGE:
            return self._message(frame)
        raise MalformedFrame("unknown frame type")

    def _answer_hello(self, frame: bytes) -> Received:
        if self.established or self._esk is None:
            raise HandshakeError("second visitor hello in one session")
        if len(frame) < 2:
            raise TruncatedFrame("visitor hello is too short")
        if frame[1] != VERSION:
            raise HandshakeError("unsupported protocol version")
        continued = frame[0] == CONTINUED_HELLO
        if len(frame) != 2 + KEY_BYTES + (CONTINUITY_TAG_BYTES if continued else 0):
            raise TruncatedFrame("visitor hello has the wrong length")
        visitor_pk = frame[2:2 + KEY_BYTES]
        # Continued: the previous session of this chat vouches for the new chat key. A tag
        # this console cannot check (no previous session) counts as not continued.
        verified = continued and self._previous is not None and hmac.compare_digest(
            frame[2 + KEY_BYTES:], continuity_tag(self._previous, self.chat_id, visitor_pk))
        sig = self._identity.sign(_hello_transcript(self.chat_id, visitor_pk, self.public_key))
        reply = (bytes([COUNSELLOR_HELLO, VERSION]) + self.public_key + sig
                 + _lp(self._cert))
        self._derive(visitor_pk, visitor_pk, self.public_key, self._identity.public_key,
                     visitor_side=False)
        return Received("established", {"safety_number": self.safety_number(),
                                        "continued": verified}, reply)
