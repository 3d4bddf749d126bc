"""Argon2id cost levels (``CHATSERVER_KDF_COST``) for console passwords and codename hashes."""

from __future__ import annotations

import nacl.pwhash

KDF_COSTS = {
    "min": (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN),
    "interactive": (nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
                    nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE),
    "moderate": (nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
                 nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE),
    "sensitive": (nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE,
                  nacl.pwhash.argon2id.MEMLIMIT_MODERATE),
}
