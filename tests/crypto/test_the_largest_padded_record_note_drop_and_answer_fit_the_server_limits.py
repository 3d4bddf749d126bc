"""Every padding bucket a kind of kept ciphertext can reach passes the socket schema for it, and
the next one does not: the server's limits and the buckets agree (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from chatserver import crypto
from chatserver.sockets import schemas

SECRETBOX = 24 + 16  # nonce and tag before the padded plaintext
SEALED = 32 + 16  # ephemeral key and tag


def _body(size: int) -> str:
    return crypto.b64encode(bytes(size))


def _payloads(size: int) -> dict[type[msgspec.Struct], dict[str, Any]]:
    key, pk = _body(schemas.SEALED_KEY_BYTES), _body(32)
    cert = {"v": 1, "key": pk, "pseudonym": "Anna", "issued": 0, "expires": 1,
            "serial": "0" * 32, "sig": _body(64)}
    return {
        schemas.HandoffPayload: {"chat_id": "c" * 16, "consent_version": "1", "sealed_key": key,
                                 "body": _body(size + SECRETBOX)},
        schemas.RecordNote: {"record_id": "r" * 8, "body": _body(size + SECRETBOX)},
        schemas.RecordAppend: {"chat_id": "c" * 16, "body": _body(size + SEALED)},
        schemas.Drop: {"lookup": pk, "sealed_key": key, "body": _body(size + SECRETBOX),
                       "reply_pk": pk},
        schemas.DropAnswer: {"drop_id": "d" * 8, "answer": {
            "sealed": _body(size + SEALED), "certificate": cert, "sig": _body(64)}},
        schemas.Transfer: {"chat_id": "c" * 16, "to": "ben", "note": _body(size + SEALED)},
    }


LARGEST = {schemas.HandoffPayload: 524288, schemas.RecordNote: 65536,
           schemas.RecordAppend: 65536, schemas.Drop: 65536,
           schemas.DropAnswer: 65536, schemas.Transfer: 4096}


@pytest.mark.parametrize("schema", list(LARGEST), ids=lambda s: s.__name__)
def test_the_largest_bucket_of_each_kind_fits_and_the_next_does_not(
        schema: type[msgspec.Struct]) -> None:
    largest = LARGEST[schema]
    assert largest in crypto.PAD_BUCKETS
    msgspec.convert(_payloads(largest)[schema], schema)
    following = crypto.PAD_BUCKETS.index(largest) + 1
    if following < len(crypto.PAD_BUCKETS):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(_payloads(crypto.PAD_BUCKETS[following])[schema], schema)
