"""Codenames are long enough, forgiving to type, and stored only as slow hashes."""

from __future__ import annotations

import math

import nacl.pwhash

from chatserver.records import codenames


def test_codenames_carry_at_least_85_bits() -> None:
    for lang in ("de", "en"):
        pool = codenames.wordlist(lang)
        assert math.log2(len(pool)) * codenames.WORDS >= 85
        name = codenames.generate(lang)
        assert len(name.split()) == codenames.WORDS
        assert all(word in pool for word in name.split())
    assert len({codenames.generate() for _ in range(50)}) == 50


async def test_lookup_key_ignores_case_spacing_and_hyphens() -> None:
    hasher = codenames.CodenameHasher(
        b"s" * 16, opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )
    name = codenames.generate()
    key = await hasher.key(name)
    assert await hasher.key("  " + name.upper().replace(" ", "-", 2) + " ") == key
    assert await hasher.key(codenames.generate()) != key
    assert name.split()[0] not in key
    other = codenames.CodenameHasher(
        b"t" * 16, opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )
    assert await other.key(name) != key
