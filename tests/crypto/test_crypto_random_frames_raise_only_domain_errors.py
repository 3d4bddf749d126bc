"""Whatever bytes arrive, the E2E layer answers with a result or a CryptoError, nothing else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver import crypto
from tests.support.e2e_clients import Pki, session_pair

PKI = Pki()
IDENTITY = PKI.identity()


def _feed(session: crypto.VisitorSession | crypto.CounsellorSession, frame: bytes) -> None:
    with contextlib.suppress(crypto.CryptoError):
        session.receive(frame)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([0x01, 0x02, 0x03, 0x04]))
def test_random_frames_to_either_side(data: bytes, kind: int) -> None:
    frame = bytes([kind]) + data
    visitor = PKI.visitor_session("chat-f")
    counsellor = crypto.CounsellorSession(IDENTITY.signing, IDENTITY.certificate, "chat-f")
    _feed(visitor, frame)
    _feed(counsellor, frame)
    v, c = session_pair(PKI, IDENTITY, "chat-f")
    _feed(v, frame)
    _feed(c, frame)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(1, 255)), min_size=1, max_size=4,
                unique_by=lambda flip: flip[0]))
def test_mutated_message_frames_are_refused(flips: list[tuple[int, int]]) -> None:
    visitor, counsellor = session_pair(PKI, IDENTITY, "chat-m")
    frame = bytearray(visitor.encrypt({"t": "text", "body": "hallo"}))
    for pos, mask in flips:
        frame[pos] ^= mask
    with pytest.raises(crypto.CryptoError):
        counsellor.receive(bytes(frame))


def test_deeply_nested_certificate_json_is_a_certificate_error() -> None:
    visitor = PKI.visitor_session("chat-n")
    cert = b"[" * 60000 + b"]" * 10
    frame = (bytes([crypto.COUNSELLOR_HELLO, crypto.VERSION]) + bytes(96)
             + len(cert).to_bytes(2, "big") + cert)
    with pytest.raises(crypto.CertificateError):
        visitor.receive(frame)
