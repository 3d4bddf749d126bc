"""The console's key wraps made and opened in Python, the twin of
``counsellor_console/static/keys.js`` and ``kdf.js`` (docs/protocol.md, "The console's keys: key
custody"): tests write wraps into the database as a console of before or a database writer
would, and check the shared vectors (``tests/vectors/console-kdf.json``)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import nacl.secret

from chatserver import crypto

# What the console uses for new wraps, and the floor below which it refuses one.
SCRYPT = {"N": 2**17, "r": 8, "p": 1}
FLOOR_BYTES = 64 * 1024 * 1024
CEILING_BYTES = 1024 * 1024 * 1024
MAX_P = 16
PBKDF2_ITERATIONS = 600_000


class WeakParameters(ValueError):
    """Scrypt parameters below the floor, above the ceiling or malformed."""


def scrypt_params(wrap: dict[str, Any]) -> tuple[int, int, int]:
    """N, r and p of a wrap, checked as the console checks them."""
    n, r, p = wrap.get("N"), wrap.get("r"), wrap.get("p")
    if not (isinstance(n, int) and n > 1 and n & (n - 1) == 0 and isinstance(r, int) and r >= 1
            and isinstance(p, int) and p >= 1):
        raise WeakParameters("malformed scrypt parameters")
    if 128 * n * r < FLOOR_BYTES:
        raise WeakParameters("scrypt memory below the floor")
    if 128 * n * r > CEILING_BYTES or p > MAX_P:
        raise WeakParameters("scrypt parameters above the ceiling")
    return n, r, p


def scrypt_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    """The 32-byte wrap key (hashlib's scrypt; no floor check: vectors also test refusals)."""
    return hashlib.scrypt(passphrase.encode(), salt=salt, n=n, r=r, p=p,
                          maxmem=CEILING_BYTES + 2**20, dklen=32)


def _box(keys: dict[str, str], key: bytes) -> str:
    return crypto.b64encode(bytes(nacl.secret.SecretBox(key).encrypt(
        json.dumps(keys, separators=(",", ":")).encode(), os.urandom(24))))


def scrypt_wrap(keys: dict[str, str], passphrase: str, *, salt: bytes | None = None,
                n: int = SCRYPT["N"], r: int = SCRYPT["r"], p: int = SCRYPT["p"]) -> dict[str, Any]:
    """A ``v: 3`` wrap as the console makes one (any parameters, to write downgrades too)."""
    salt = os.urandom(16) if salt is None else salt
    return {"v": 3, "kdf": "scrypt", "N": n, "r": r, "p": p, "salt": crypto.b64encode(salt),
            "box": _box(keys, scrypt_key(passphrase, salt, n, r, p))}


def pbkdf2_wrap(keys: dict[str, str], passphrase: str,
                iterations: int = PBKDF2_ITERATIONS) -> dict[str, Any]:
    """A ``v: 2`` wrap as consoles made them before scrypt (PBKDF2-SHA-256)."""
    salt = os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, iterations, 32)
    return {"v": 2, "kdf": "pbkdf2-sha256", "iterations": iterations,
            "salt": crypto.b64encode(salt), "box": _box(keys, key)}


def open_wrap(wrap: dict[str, Any], passphrase: str) -> dict[str, str]:
    """The keys inside a wrap (scrypt parameters checked first); nacl's CryptoError if the
    passphrase does not fit."""
    salt = crypto.b64decode(wrap["salt"])
    if wrap.get("kdf") == "scrypt":
        key = scrypt_key(passphrase, salt, *scrypt_params(wrap))
    else:
        key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, wrap["iterations"], 32)
    raw = crypto.b64decode(wrap["box"])
    plain = nacl.secret.SecretBox(key).decrypt(raw[24:], raw[:24])
    result: dict[str, str] = json.loads(plain)
    return result


def fresh_keys() -> dict[str, str]:
    """An identity seed and a box secret, as a console makes them at the first sign-in."""
    return {"identity_seed": crypto.b64encode(os.urandom(32)),
            "box_sk": crypto.b64encode(os.urandom(32))}
