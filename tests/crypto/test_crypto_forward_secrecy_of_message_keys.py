"""A message key once used cannot be re-derived from any later state, nor from long-term keys."""

from __future__ import annotations

import nacl.bindings as sodium
import nacl.exceptions
import pytest

from chatserver import crypto
from tests.support.e2e_clients import Pki, session_pair

N = 5


def _opens(frame: bytes, key: bytes) -> bool:
    try:
        sodium.crypto_secretbox_open(frame[33:], frame[9:33], key)
    except nacl.exceptions.CryptoError:
        return False
    return True


def test_the_state_after_message_n_yields_no_key_of_message_n_or_earlier() -> None:
    pki = Pki()
    visitor, counsellor = session_pair(pki, pki.identity())
    assert counsellor._recv is not None
    # Test-side record of the chain as it started, to know the true message keys.
    chain_key = counsellor._recv.key
    true_keys = []
    for _ in range(N):
        message_key, chain_key = crypto._Chain.step(chain_key)
        true_keys.append(message_key)
    frames = [visitor.encrypt({"t": "text", "body": f"secret {i}"}) for i in range(N)]
    for frame, key in zip(frames, true_keys, strict=True):
        assert _opens(frame, key)
        counsellor.receive(frame)

    # Everything secret the receiving side still holds after message N.
    assert counsellor._esk is None and not counsellor._skipped
    assert counsellor._recv is not None and counsellor._send is not None
    held = [counsellor._recv.key, counsellor._send.key]
    # Everything derivable from it by ratcheting forward (an attacker can step, not go back).
    derivable = set(held)
    for start in held:
        key = start
        for _ in range(3 * N):
            message_key, key = crypto._Chain.step(key)
            derivable |= {message_key, key}
    assert not derivable & set(true_keys)
    for frame in frames:
        assert not any(_opens(frame, k) for k in derivable)
        with pytest.raises(crypto.ReplayedFrame):
            counsellor.receive(frame)


def test_skipped_keys_are_dropped_once_used() -> None:
    pki = Pki()
    visitor, counsellor = session_pair(pki, pki.identity())
    first, second = (visitor.encrypt({"t": "text", "body": str(i)}) for i in range(2))
    counsellor.receive(second)
    assert set(counsellor._skipped) == {1}
    counsellor.receive(first)
    assert not counsellor._skipped


def test_long_term_keys_do_not_open_a_past_chat() -> None:
    pki = Pki()
    identity = pki.identity()
    visitor = pki.visitor_session("chat-1")
    counsellor = crypto.CounsellorSession(identity.signing, identity.certificate, "chat-1")
    hello = visitor.hello()
    reply = counsellor.receive(hello).reply
    assert reply is not None
    visitor.receive(reply)
    recorded = visitor.encrypt({"t": "text", "body": "recorded by the relay"})
    # Seized later: the org key, the identity key, the certificate, and every relayed frame.
    replay = crypto.CounsellorSession(identity.signing, identity.certificate, "chat-1")
    replay.receive(hello)
    with pytest.raises(crypto.TamperedFrame):
        replay.receive(recorded)
    assert visitor._esk is None and counsellor._esk is None


def test_reprs_and_errors_show_no_key_material() -> None:
    pki = Pki()
    identity = pki.identity()
    visitor, counsellor = session_pair(pki, identity)
    frame = visitor.encrypt({"t": "text", "body": "canary-4711"})
    secrets = [identity.signing.seed(), pki.org.seed()]
    assert counsellor._recv is not None and visitor._send is not None
    secrets += [counsellor._recv.key, visitor._send.key]
    texts = [repr(visitor), repr(counsellor), repr(identity), repr(pki.org),
             repr(visitor.counsellor), repr(counsellor.receive(frame))]
    bad = bytearray(frame)
    bad[100] ^= 1
    with pytest.raises(crypto.CryptoError) as err:
        counsellor.receive(bytes(bad))
    texts.append(str(err.value))
    for text in texts:
        assert "canary-4711" not in text
        for secret in secrets:
            assert secret.hex() not in text and crypto.b64encode(secret) not in text
