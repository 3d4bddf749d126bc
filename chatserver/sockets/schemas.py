"""Payload schemas of every socket event, checked before anything else happens."""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from chatserver.config import MAX_TOPICS
from chatserver.errors import invalid
from chatserver.relay.state import MAX_LOST
from chatserver.vocabulary import Lang

# A new chat names why it is opened; ``return`` comes only through a codename.
Entry = Literal["exit", "relative", "professional"]
ChatId = Annotated[str, msgspec.Meta(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Token = Annotated[str, msgspec.Meta(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
Seq = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
Upto = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
# Room for 256 KiB of base64; the configured cap is checked after decoding.
Ciphertext = Annotated[str, msgspec.Meta(min_length=4, max_length=350_000)]
Note = Annotated[str, msgspec.Meta(max_length=8192)]


class _Strict(msgspec.Struct, forbid_unknown_fields=True):
    pass


class Empty(_Strict):
    pass


class ChatRequest(_Strict):
    entry: Entry
    lang: Lang = Lang.DE
    # The visitor ticked "it is urgent": queued ahead, counted (nothing else is kept of it).
    urgent: bool = False


class Resume(_Strict):
    token: Token


class VisitorSend(_Strict):
    seq: Seq
    ct: Ciphertext


# Sequence numbers a receiver got but could not show (an acknowledgement reports them lost).
Lost = Annotated[list[Seq], msgspec.Meta(max_length=MAX_LOST)]


class VisitorAck(_Strict):
    upto: Upto
    lost: Lost = msgspec.field(default_factory=list)


class VisitorResync(_Strict):
    after: Upto


class Consent(_Strict):
    answer: Literal["yes", "no"]
    version: Annotated[
        str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    ]


class Duty(_Strict):
    on: bool


class ChatRef(_Strict):
    chat_id: ChatId


# Checked against the configured list at the edge (CounsellorNamespace.on_end).
TopicId = Annotated[str, msgspec.Meta(min_length=1, max_length=24, pattern=r"^[a-z][a-z0-9_]*$")]


class EndChat(_Strict):
    chat_id: ChatId
    # What the chat was about, for the statistics (optional; docs/statistics.md, "Topics").
    topics: Annotated[list[TopicId], msgspec.Meta(max_length=MAX_TOPICS)] = msgspec.field(
        default_factory=list)


class CounsellorSend(_Strict):
    chat_id: ChatId
    seq: Seq
    ct: Ciphertext


class CounsellorAck(_Strict):
    chat_id: ChatId
    upto: Upto
    lost: Lost = msgspec.field(default_factory=list)


class CounsellorResync(_Strict):
    chat_id: ChatId
    after: Upto


class Transfer(_Strict):
    chat_id: ChatId
    to: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    note: Note = ""


RecordId = Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Codename = Annotated[str, msgspec.Meta(min_length=10, max_length=300)]


def base64_of(size: int) -> str:
    """A pattern matching canonical standard base64 of exactly ``size`` bytes: the right length,
    the padding due, and no stray bits in the last character (so one value, one encoding)."""
    full, rest = divmod(size, 3)
    if rest == 0:
        return rf"^[A-Za-z0-9+/]{{{4 * full}}}$"
    if rest == 1:
        return rf"^[A-Za-z0-9+/]{{{4 * full + 1}}}[AQgw]==$"
    return rf"^[A-Za-z0-9+/]{{{4 * full + 2}}}[AEIMQUYcgkosw048]=$"


KEY_BYTES = 32
# A sealed 32-byte key (a record key, or the records secret in a grant): 48 bytes of seal.
SEALED_KEY_BYTES = 48 + KEY_BYTES
# An X25519 public key (box key, records key, a drop's reply key).
PublicKey = Annotated[str, msgspec.Meta(pattern=base64_of(KEY_BYTES))]
SealedKey = Annotated[str, msgspec.Meta(pattern=base64_of(SEALED_KEY_BYTES))]
RecordBody = Annotated[str, msgspec.Meta(min_length=4, max_length=700_000)]
SmallBody = Annotated[str, msgspec.Meta(min_length=4, max_length=90_000)]
ConsentVersion = Annotated[
    str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
]


class HandoffPayload(_Strict):
    chat_id: ChatId
    consent_version: ConsentVersion
    sealed_key: SealedKey
    body: RecordBody
    # The visitor's copy (docs/protocol.md, "Continuity"): both or neither.
    reader_pk: PublicKey | None = None
    reader_body: RecordBody | None = None


class RecordRef(_Strict):
    record_id: RecordId


class RecordOpen(_Strict):
    record_id: RecordId
    export: bool = False


class RecordNote(_Strict):
    record_id: RecordId
    body: SmallBody


class RecordAppend(_Strict):
    """Later lines of a chat for the record it is linked to, sealed to the records key."""

    chat_id: ChatId
    body: SmallBody
    reader_body: SmallBody | None = None


class DropRef(_Strict):
    drop_id: RecordId


Signature = Annotated[str, msgspec.Meta(pattern=base64_of(64))]
Seconds = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class Certificate(_Strict):
    """A counsellor certificate as ``chatserver keys certify`` writes it (checked by clients
    and, for drop answers, by crypto.py)."""

    v: int
    key: PublicKey
    pseudonym: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    issued: Seconds
    expires: Seconds
    serial: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
    sig: Signature


class SignedAnswer(_Strict):
    """A drop answer: sealed to the visitor's reply key, signed by the answering counsellor."""

    sealed: SmallBody
    certificate: Certificate
    sig: Signature
    # The same answer sealed to the team's records key, so that colleagues read the thread
    # (not signed: only the visitor's copy must be proven; consoles before 0012 sent none).
    team: SmallBody | None = None


class DropAnswer(_Strict):
    drop_id: RecordId
    answer: SignedAnswer


class BoxKey(_Strict):
    box_pk: PublicKey
    # The identity key's signature of the box key, and that key's certificate (None while the
    # organisation has not certified this counsellor: nobody will grant to it then).
    box_sig: Signature
    certificate: Certificate | None


class KeyringQuery(_Strict):
    # The box key this console holds: its grant is the one answered (several devices).
    box_pk: PublicKey | None = None


class KeyringInit(_Strict):
    records_pk: PublicKey
    sealed: SealedKey
    box_pk: PublicKey | None = None


UserId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Epoch = Annotated[int, msgspec.Meta(ge=1, le=2**31)]


class KeyringGrant(_Strict):
    user_id: UserId
    sealed: SealedKey
    # Which of the colleague's box keys it is sealed to (optional while they have one).
    box_pk: PublicKey | None = None
    # The epoch of the records key the grant is of: refused unless it is the newest.
    epoch: Epoch | None = None


class EpochGrant(_Strict):
    user_id: UserId
    box_pk: PublicKey
    sealed: SealedKey


class RecoverySeal(_Strict):
    epoch: Epoch
    recovery_pk: PublicKey
    sealed: SealedKey


class KeyringRotate(_Strict):
    epoch: Epoch
    records_pk: PublicKey
    # The retired epoch's secret sealed to the new public key (docs/protocol.md, "Rotation").
    link: SealedKey
    grants: Annotated[list[EpochGrant], msgspec.Meta(min_length=1, max_length=500)]
    recovery: RecoverySeal | None = None


class Return(_Strict):
    codename: Codename
    lang: Lang = Lang.DE
    # As for a new request: ahead of the queue, and open to whoever is free.
    urgent: bool = False


class CodenameOnly(_Strict):
    codename: Codename


class DropStart(_Strict):
    lang: Lang = Lang.DE


# The 32-byte value a widget derived from the drop code it made (never the code itself).
Lookup = PublicKey


# Rounds of one message thread (docs/protocol.md, "Message drop"): a bound, not a quota.
MAX_DROP_ROUNDS = 50


class Drop(_Strict):
    lookup: Lookup
    sealed_key: SealedKey
    body: SmallBody
    reply_pk: PublicKey
    # 1 starts a thread; the next number writes again after an answer (widgets before 0012
    # sent none).
    round: Annotated[int, msgspec.Meta(ge=1, le=MAX_DROP_ROUNDS)] = 1


class DropCheck(_Strict):
    lookup: Lookup


T = TypeVar("T", bound=msgspec.Struct)


def parse(schema: type[T], args: tuple[Any, ...]) -> T:
    """Turn the raw event arguments into ``schema`` or raise ``invalid`` naming the problem."""
    if len(args) > 1:
        raise invalid("Send exactly one JSON object.")
    data = args[0] if args else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise invalid("The payload must be a JSON object.")
    try:
        return msgspec.convert(data, type=schema, strict=True)
    except msgspec.ValidationError as exc:
        raise invalid(str(exc)) from None


def check_base64(*values: str) -> None:
    """Refuse unless every value is canonical base64."""
    for value in values:
        try:
            b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise invalid("A field is not valid base64.") from None


def check_ciphertext(ct: str, max_bytes: int) -> None:
    """Refuse ``ct`` unless it is canonical base64 of at most ``max_bytes`` bytes."""
    if len(ct) > (max_bytes + 2) // 3 * 4:
        raise invalid(f"Envelope larger than {max_bytes} bytes.")
    try:
        # On every message: the C decoder's strict mode refuses exactly what
        # b64decode(validate=True) refuses, without its regular expression and copies.
        raw = binascii.a2b_base64(ct, strict_mode=True)
    except (binascii.Error, ValueError):
        raise invalid("Envelope is not valid base64.") from None
    if len(raw) > max_bytes:
        raise invalid(f"Envelope larger than {max_bytes} bytes.")
