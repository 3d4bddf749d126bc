"""Every message frame is authenticated, used once, in a bounded window, and whole."""

from __future__ import annotations

import pytest

from chatserver import crypto
from tests.support.e2e_clients import Pki, session_pair


@pytest.fixture
def pair() -> tuple[crypto.VisitorSession, crypto.CounsellorSession]:
    pki = Pki()
    return session_pair(pki, pki.identity())


def text(n: int) -> dict[str, str]:
    return {"t": "text", "body": f"message {n}"}


def test_each_flipped_bit_of_a_frame_is_detected(
    pair: tuple[crypto.VisitorSession, crypto.CounsellorSession],
) -> None:
    visitor, counsellor = pair
    frame = visitor.encrypt(text(1))
    # Counter, nonce, tag, and ciphertext: every region is covered.
    for pos in (8, 9, 32, 33, 48, 49, 100, len(frame) - 1):
        bad = bytearray(frame)
        bad[pos] ^= 0x04
        with pytest.raises(crypto.TamperedFrame):
            counsellor.receive(bytes(bad))
    # A high counter byte changed puts the frame far outside the window.
    bad = bytearray(frame)
    bad[1] ^= 0x04
    with pytest.raises(crypto.ReorderedFrame):
        counsellor.receive(bytes(bad))
    assert counsellor.receive(frame).payload == text(1)


def test_a_frame_from_another_chat_does_not_open(
    pair: tuple[crypto.VisitorSession, crypto.CounsellorSession],
) -> None:
    visitor, _ = pair
    pki = Pki()
    _, other = session_pair(pki, pki.identity(), "chat-2")
    with pytest.raises(crypto.TamperedFrame):
        other.receive(visitor.encrypt(text(1)))


def test_a_replayed_frame_is_refused(
    pair: tuple[crypto.VisitorSession, crypto.CounsellorSession],
) -> None:
    visitor, counsellor = pair
    first, second = visitor.encrypt(text(1)), visitor.encrypt(text(2))
    counsellor.receive(first)
    with pytest.raises(crypto.ReplayedFrame):
        counsellor.receive(first)
    counsellor.receive(second)
    with pytest.raises(crypto.ReplayedFrame):
        counsellor.receive(first)
    with pytest.raises(crypto.ReplayedFrame):
        counsellor.receive(second)


def test_a_late_frame_inside_the_window_opens_once(
    pair: tuple[crypto.VisitorSession, crypto.CounsellorSession],
) -> None:
    visitor, counsellor = pair
    frames = [visitor.encrypt(text(n)) for n in range(1, 6)]
    assert counsellor.receive(frames[4]).payload == text(5)
    assert counsellor.receive(frames[1]).payload == text(2)
    with pytest.raises(crypto.ReplayedFrame):
        counsellor.receive(frames[1])
    assert counsellor.receive(frames[0]).payload == text(1)


def test_reordering_beyond_the_window_is_refused(
    pair: tuple[crypto.VisitorSession, crypto.CounsellorSession],
) -> None:
    visitor, counsellor = pair
    frames = [visitor.encrypt(text(n)) for n in range(1, 2 * crypto.WINDOW + 3)]
    with pytest.raises(crypto.ReorderedFrame):
        counsellor.receive(frames[crypto.WINDOW])  # counter WINDOW + 1: too far ahead
    counsellor.receive(frames[crypto.WINDOW - 1])  # counter WINDOW: just inside
    counsellor.receive(frames[2 * crypto.WINDOW - 1])  # counter 2 * WINDOW
    with pytest.raises(crypto.ReorderedFrame):
        counsellor.receive(frames[0])  # counter 1 fell out of the window; its key is gone
    assert len(counsellor._skipped) < crypto.WINDOW  # bounded memory


def test_truncated_and_stretched_frames_are_refused(
    pair: tuple[crypto.VisitorSession, crypto.CounsellorSession],
) -> None:
    visitor, counsellor = pair
    frame = visitor.encrypt(text(1))
    for cut in (frame[:0], frame[:1], frame[:40], frame[:-1], frame + b"\0"):
        with pytest.raises(crypto.TruncatedFrame):
            counsellor.receive(cut)
    assert counsellor.receive(frame).payload == text(1)


def test_truncated_hellos_are_refused() -> None:
    pki = Pki()
    identity = pki.identity()
    visitor = pki.visitor_session("chat-1")
    counsellor = crypto.CounsellorSession(identity.signing, identity.certificate, "chat-1")
    for cut in (visitor.hello()[:1], visitor.hello()[:-1]):
        with pytest.raises(crypto.TruncatedFrame):
            counsellor.receive(cut)
    reply = counsellor.receive(visitor.hello()).reply
    assert reply is not None
    for cut in (reply[:1], reply[:90], reply[:-1]):
        with pytest.raises(crypto.TruncatedFrame):
            visitor.receive(cut)
    assert visitor.receive(reply).kind == "established"


def test_a_forged_frame_burns_no_keys(
    pair: tuple[crypto.VisitorSession, crypto.CounsellorSession],
) -> None:
    visitor, counsellor = pair
    frames = [visitor.encrypt(text(n)) for n in range(1, 4)]
    forged = bytearray(frames[2])
    forged[60] ^= 1
    with pytest.raises(crypto.TamperedFrame):
        counsellor.receive(bytes(forged))
    assert [counsellor.receive(f).payload for f in frames] == [text(1), text(2), text(3)]


def test_frames_are_padded_to_a_few_fixed_sizes(
    pair: tuple[crypto.VisitorSession, crypto.CounsellorSession],
) -> None:
    visitor, counsellor = pair
    sizes = {len(visitor.encrypt({"t": "text", "body": "x" * n})) for n in range(0, 170)}
    assert sizes == {256}
    for n in (1, 500, 3000, 12000, crypto.MAX_PAYLOAD - 30):
        frame = counsellor.encrypt({"t": "text", "body": "y" * n})
        assert len(frame) in crypto.BUCKETS
        assert visitor.receive(frame).payload["body"] == "y" * n
    with pytest.raises(crypto.PayloadError):
        visitor.encrypt({"t": "text", "body": "z" * crypto.MAX_PAYLOAD})


def test_messages_are_structured_json(
    pair: tuple[crypto.VisitorSession, crypto.CounsellorSession],
) -> None:
    visitor, counsellor = pair
    consent = {"t": "consent", "version": "v2", "answer": True, "scope": ["record"]}
    assert counsellor.receive(visitor.encrypt(consent)).payload == consent
    for bad in ({"body": "no kind"}, {"t": 1}, {"t": "x", "f": float("nan")}):
        with pytest.raises(crypto.PayloadError):
            visitor.encrypt(bad)


def test_messages_before_the_handshake_are_refused() -> None:
    pki = Pki()
    visitor = pki.visitor_session("chat-1")
    with pytest.raises(crypto.HandshakeError):
        visitor.encrypt(text(1))
    _, counsellor = session_pair(pki, pki.identity())
    frame = counsellor.encrypt(text(1))
    with pytest.raises(crypto.HandshakeError):
        visitor.receive(frame)
