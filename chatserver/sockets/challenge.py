"""Proof of work before costly visitor requests: an optional, local price on a queue slot.

Joining the queue (``request``, ``return``) and codename lookups (slow Argon2id hashes) cost
the server; per-address limits stop one address, but not many. With
``CHATSERVER_CHALLENGE_BITS`` above zero a visitor connection first asks ``challenge {}``,
gets a random nonce, finds a ``proof`` such that SHA-256(nonce ":" proof) starts with that
many zero bits, and answers ``challenge {"proof"}``. That buys exactly one costly request on
this connection. No third party is involved and nothing about the visitor is kept: the nonce
lives in memory, bound to the socket, until it is used, replaced or the socket closes.

The widget pays before each of those events (``widget/static/pow.js``, the search in a worker,
``pow-worker.js``); it counts up from zero as :func:`solve` does, so both find the same proof
(``tests/vectors/pow.json``).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from chatserver.errors import DomainError, ErrorCode

MAX_BITS = 28
NONCE_TTL_S = 300.0


class Answer(msgspec.Struct, forbid_unknown_fields=True):
    """The ``challenge`` event: empty to get a nonce, with ``proof`` to redeem it."""

    proof: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9]*$")] = ""


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits ``digest`` starts with."""
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def work(nonce: str, proof: str) -> int:
    """The zero bits a ``proof`` earns for ``nonce``."""
    return leading_zero_bits(hashlib.sha256(f"{nonce}:{proof}".encode()).digest())


def solve(nonce: str, bits: int) -> str:
    """The reference solver: count up from zero, as the widget's worker does. The Python test
    clients answer challenges with it."""
    counter = 0
    while work(nonce, str(counter)) < bits:
        counter += 1
    return str(counter)


@dataclass
class ChallengeSlot:
    """One visitor socket's open nonce and earned credit."""

    nonce: str = ""
    issued: float = 0.0
    credit: bool = False


class Challenges:
    """The puzzle's difficulty, and the rules for one connection's slot."""

    def __init__(self, bits: int) -> None:
        if not 0 <= bits <= MAX_BITS:
            raise ValueError(f"challenge bits must be between 0 and {MAX_BITS}")
        self.bits = bits

    def answer(self, slot: ChallengeSlot, req: Answer) -> dict[str, Any]:
        """Redeem a proof if one is given, then hand out a fresh nonce."""
        credited = False
        if req.proof:
            nonce, issued = slot.nonce, slot.issued
            slot.nonce = ""
            if not nonce or time.monotonic() - issued > NONCE_TTL_S:
                raise DomainError(ErrorCode.CHALLENGE, "Ask for a new challenge first.")
            if work(nonce, req.proof) < self.bits:
                raise DomainError(ErrorCode.CHALLENGE, "The proof does not solve the challenge.")
            slot.credit = credited = True
        slot.nonce, slot.issued = secrets.token_urlsafe(16), time.monotonic()
        return {"ok": True, "nonce": slot.nonce, "bits": self.bits, "alg": "sha256",
                "credited": credited or slot.credit}

    def spend(self, slot: ChallengeSlot) -> None:
        """Use up the connection's credit, or refuse when a challenge is required."""
        if not self.bits:
            return
        if not slot.credit:
            raise DomainError(ErrorCode.CHALLENGE, "Solve the challenge first.")
        slot.credit = False
