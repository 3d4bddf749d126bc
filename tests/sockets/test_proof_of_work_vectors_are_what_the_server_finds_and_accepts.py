"""tests/vectors/pow.json, which the widget's solver must reproduce (jslib/test), is what the
server's own solver finds first and what its check accepts; one bit more is refused."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from chatserver.errors import DomainError
from chatserver.sockets.challenge import Answer, Challenges, ChallengeSlot, solve, work
from tests.support.paths import VECTORS
from tests.vectors import generate_pow

POW: dict[str, Any] = json.loads((VECTORS / "pow.json").read_text("utf-8"))


def test_regenerating_the_vectors_gives_the_committed_file() -> None:
    assert generate_pow.build() == POW


@pytest.mark.parametrize("case", POW["cases"], ids=lambda c: f"{c['nonce'][:6]}-{c['bits']}")
def test_each_proof_is_the_first_and_earns_its_bits(case: dict[str, Any]) -> None:
    nonce, bits, proof = case["nonce"], case["bits"], case["proof"]
    assert solve(nonce, bits) == proof
    assert work(nonce, proof) == case["work"] >= bits
    assert all(work(nonce, str(smaller)) < bits for smaller in range(int(proof)))


@pytest.mark.parametrize("case", [c for c in POW["cases"] if len(c["nonce"]) == 22 and c["bits"]],
                         ids=lambda c: f"{c['nonce'][:6]}-{c['bits']}")
def test_the_server_accepts_the_proof_and_refuses_one_bit_short(case: dict[str, Any]) -> None:
    now = time.monotonic()
    accepted = Challenges(case["bits"]).answer(ChallengeSlot(case["nonce"], now),
                                               Answer(proof=case["proof"]))
    assert accepted["credited"] is True
    with pytest.raises(DomainError):
        Challenges(case["work"] + 1).answer(ChallengeSlot(case["nonce"], now),
                                            Answer(proof=case["proof"]))
