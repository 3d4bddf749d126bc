"""Codenames: several diceware words a visitor writes down to come back, SecureDrop style.

A codename is shown once and never stored: the server keeps only a slow, salted hash
(Argon2id) under which it finds the case record or message drop again.
"""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
from functools import cache
from importlib import resources

import nacl.pwhash

WORDS = 7  # 7 words from the curated lists (at least 4,500 words each): at least 85 bits
LONGEST = 10  # letters: a codename is written down by hand and typed again
SHORTEST_LIST = 4500


@cache
def stop_stems() -> tuple[str, ...]:
    """The stems no codename word may contain (``codename-stop.txt`` says why)."""
    text = resources.files(__package__).joinpath("codename-stop.txt").read_text("utf-8")
    return tuple(stem for line in text.splitlines() if not line.startswith("#")
                 for stem in line.split())


@cache
def wordlist(lang: str) -> tuple[str, ...]:
    """The diceware list for ``lang`` (German, otherwise English), from the xkcdpass package,
    curated for this audience: plain letters, at most ``LONGEST`` of them, and nothing that
    contains a stop stem (no "betrug", "raubzug", "zensur" or "zerfressen" in a codename)."""
    name = "ger-long" if lang == "de" else "eff-long"
    text = resources.files("xkcdpass").joinpath("static", name).read_text("utf-8")
    stems = stop_stems()
    words = tuple(sorted({w for w in (w.strip().lower() for w in text.split())
                          if w.isascii() and w.isalpha() and 3 <= len(w) <= LONGEST
                          and not any(stem in w for stem in stems)}))
    if len(words) < SHORTEST_LIST:
        raise RuntimeError(f"word list {name} is too short after curation: {len(words)}")
    return words


def generate(lang: str = "de", words: int = WORDS) -> str:
    """A fresh random codename."""
    pool = wordlist(lang)
    return " ".join(secrets.choice(pool) for _ in range(words))


def normalize(codename: str) -> str:
    """What the visitor typed, made comparable: case, spacing and hyphens do not matter."""
    text = unicodedata.normalize("NFC", codename).lower().replace("-", " ")
    return " ".join(text.split())


class CodenameHasher:
    """Slow, salted lookup keys for codenames; cheap parameters only in tests."""

    def __init__(self, salt: bytes, opslimit: int = nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
                 memlimit: int = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE) -> None:
        if len(salt) != nacl.pwhash.argon2id.SALTBYTES:
            raise ValueError("codename salt must be 16 bytes")
        self._salt = salt
        self._ops = opslimit
        self._mem = memlimit

    def _key(self, codename: str) -> str:
        raw = nacl.pwhash.argon2id.kdf(32, normalize(codename).encode(), self._salt,
                                       opslimit=self._ops, memlimit=self._mem)
        return raw.hex()

    async def key(self, codename: str) -> str:
        """The lookup key for ``codename``, computed off the event loop."""
        return await asyncio.to_thread(self._key, codename)
