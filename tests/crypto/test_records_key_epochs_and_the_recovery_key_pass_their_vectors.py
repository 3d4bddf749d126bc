"""chatserver/crypto.py reproduces tests/vectors/epochs.json: the newest epoch's secret opens
every older one through the links and what was sealed to each, a swapped link is refused, and
the recovery secret gives the certified recovery key and nothing else does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatserver import crypto
from tests.support.paths import VECTORS
from tests.vectors import generate_epochs

V: dict[str, Any] = json.loads((VECTORS / "epochs.json").read_text("utf-8"))
ORG = crypto.b64decode(V["org_public_key"])


def _chain() -> list[tuple[bytes, bytes | None]]:
    return [(crypto.b64decode(e["pk"]), bytes.fromhex(e["link"]) if e["link"] else None)
            for e in V["epochs"]]


def test_regenerating_the_vectors_gives_the_committed_file() -> None:
    assert generate_epochs.build() == V


def test_the_newest_secret_opens_every_epoch_and_everything_sealed_to_each() -> None:
    newest = bytes.fromhex(V["epochs"][-1]["sk"])
    found = crypto.open_epochs(newest, _chain())
    assert [s.hex() for s in found] == [e["sk"] for e in V["epochs"]]
    keys = [(sk, crypto.b64decode(e["pk"])) for sk, e in zip(found, V["epochs"], strict=True)]
    for e in V["epochs"]:
        opened = crypto.open_sealed_any(keys[::-1], bytes.fromhex(e["sealed_record_key"]))
        assert opened.hex() == e["record_key"]


def test_an_old_epoch_secret_opens_nothing_sealed_to_a_newer_epoch() -> None:
    first = bytes.fromhex(V["epochs"][0]["sk"])
    with pytest.raises(crypto.TamperedFrame):
        crypto.open_sealed_any([(first, crypto.b64decode(V["epochs"][0]["pk"]))],
                               bytes.fromhex(V["epochs"][2]["sealed_record_key"]))
    # Nor does it walk up the chain: a link only ever leads down.
    with pytest.raises(crypto.TamperedFrame):
        crypto.open_epochs(first, _chain())


def test_a_link_that_seals_another_secret_is_refused() -> None:
    chain = _chain()
    chain[2] = (chain[2][0], bytes.fromhex(V["swapped_link"]["link"]))
    with pytest.raises(crypto.CryptoError) as err:
        crypto.open_epochs(bytes.fromhex(V["epochs"][2]["sk"]), chain)
    assert err.value.code == V["swapped_link"]["error"]


def test_the_recovery_secret_gives_the_certified_key_however_it_is_typed() -> None:
    r = V["recovery"]
    assert crypto.generate_recovery_secret(
        rng=generate_epochs.fixed(bytes.fromhex(r["randomness"]))) == r["secret"]
    for text in (r["secret"], r["typed"]):
        sk, pk = crypto.recovery_keys(text)
        assert (sk.hex(), crypto.b64encode(pk)) == (r["sk"], r["pk"])
    assert crypto.verify_recovery_key(r["pk"], r["certificate"], ORG, V["now"]) == pk
    newest = V["epochs"][-1]
    opened = crypto.open_recovery(r["secret"], pk, bytes.fromhex(r["sealed_epoch"]),
                                  crypto.b64decode(newest["pk"]))
    assert opened.hex() == newest["sk"]


@pytest.mark.parametrize("wrong", V["recovery"]["wrong_secrets"])
def test_a_wrong_recovery_secret_is_refused_clearly(wrong: str) -> None:
    r = V["recovery"]
    with pytest.raises(crypto.WrongRecoverySecret) as err:
        crypto.open_recovery(wrong, crypto.b64decode(r["pk"]), bytes.fromhex(r["sealed_epoch"]),
                             crypto.b64decode(V["epochs"][-1]["pk"]))
    assert err.value.code == "recovery"


@pytest.mark.parametrize("case", V["recovery"]["refused"], ids=lambda c: c["name"])
def test_recovery_certificates_are_refused_with_the_vector_code(case: dict[str, Any]) -> None:
    revoked = frozenset(crypto.b64decode(k) for k in case.get("revoked", []))
    with pytest.raises(crypto.CertificateError) as err:
        crypto.verify_recovery_key(case["pk"], case["cert"], ORG, V["now"], revoked)
    assert err.value.code == case["error"]
