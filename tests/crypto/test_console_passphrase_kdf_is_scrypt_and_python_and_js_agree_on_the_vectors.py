"""The console's key passphrase KDF (scrypt): Python reproduces tests/vectors/console-kdf.json,
opens its wraps, and refuses the same parameters as the console's kdf.js
(``jslib/test/console_kdf_vectors.test.mjs`` runs the JS side on the same file)."""

from __future__ import annotations

import json
from typing import Any

import nacl.exceptions
import pytest

from chatserver import crypto
from tests.support import console_keys as ck
from tests.support.paths import VECTORS
from tests.vectors import generate_console_kdf

V: dict[str, Any] = json.loads((VECTORS / "console-kdf.json").read_text("utf-8"))


def test_regenerating_the_known_answers_gives_the_committed_file() -> None:
    assert generate_console_kdf.build() == {k: v for k, v in V.items() if k != "wraps"}


def test_the_current_parameters_take_at_least_the_floor_of_memory() -> None:
    assert V["current"] == ck.SCRYPT
    assert 128 * V["current"]["N"] * V["current"]["r"] >= V["floor_bytes"] == 64 * 2**20
    assert ck.scrypt_params(V["current"]) == (2**17, 8, 1)


@pytest.mark.parametrize("case", V["scrypt"], ids=lambda c: f"N{c['N']}-r{c['r']}-p{c['p']}")
def test_scrypt_keys_match_byte_for_byte(case: dict[str, Any]) -> None:
    key = ck.scrypt_key(case["passphrase"], crypto.b64decode(case["salt"]),
                        *ck.scrypt_params(case))
    assert key.hex() == case["key"]


def test_the_stored_wraps_open_with_the_passphrase_only() -> None:
    wraps = V["wraps"]
    for kind in ("scrypt", "pbkdf2"):
        assert ck.open_wrap(wraps[kind], wraps["passphrase"]) == wraps["keys"]
        with pytest.raises(nacl.exceptions.CryptoError):
            ck.open_wrap(wraps[kind], wraps["passphrase"] + " ")


@pytest.mark.parametrize("case", V["refused"], ids=lambda c: c["why"])
def test_parameters_below_the_floor_or_above_the_ceiling_are_refused(
        case: dict[str, Any]) -> None:
    with pytest.raises(ck.WeakParameters):
        ck.scrypt_params(case)
    # A wrap carrying them is refused before anything is derived, even one that would open.
    if case["why"] == "below the floor":
        weak = ck.scrypt_wrap(V["wraps"]["keys"], "x", n=case["N"], r=case["r"], p=case["p"])
        with pytest.raises(ck.WeakParameters):
            ck.open_wrap(weak, "x")
