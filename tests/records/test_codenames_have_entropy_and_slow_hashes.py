"""Codenames are long enough, forgiving to type, fit for someone leaving the scene, and stored
only as slow hashes."""

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


def test_codename_words_are_curated_for_this_audience() -> None:
    """Plain letters, at most ten, and nothing that reads as crime, violence, death, hate or
    the scene's words: the words a tester found in codenames are gone, and so is every word
    with a stop stem, in both lists."""
    stems = codenames.stop_stems()
    assert {"betrug", "raub", "zensur", "fress", "nazi", "kill", "blood"} <= set(stems)
    for lang in ("de", "en"):
        pool = codenames.wordlist(lang)
        assert not {"betrug", "raubzug", "zensur", "zerfressen", "murder"} & set(pool)
        assert not [w for w in pool if any(stem in w for stem in stems)]
        assert all(w.isascii() and w.isalpha() and 3 <= len(w) <= 10 for w in pool)


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
