"""Write ``tests/vectors/pow.json``: the proofs ``chatserver/sockets/challenge.py`` finds first.

Both solvers count up from zero, so the widget's (``widget/static/pow-worker.js``) must find
the very same proof for each case. Nonces are fixed; one is longer than a SHA-256 block so that the
browser's hashing is checked across a block boundary too. Run it after a deliberate change of
the puzzle only: ``.venv/bin/python -m tests.vectors.generate_pow``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chatserver.sockets.challenge import solve, work

OUT = Path(__file__).with_name("pow.json")
# The server's nonces are secrets.token_urlsafe(16): 22 characters of base64url.
NONCES = ("q3X-Vb8_ZQ1nRk2LmP0aTw", "AAAAAAAAAAAAAAAAAAAAAA",
          "ein-längerer-Nonce-über-einen-SHA-256-Block-hinaus-0123456789")
BITS = (0, 1, 4, 8, 12, 16)


def build() -> dict[str, Any]:
    """Every case: nonce, bits, the first proof, and the bits that proof earns."""
    cases = []
    for nonce in NONCES:
        for bits in BITS if len(nonce) == 22 else (0, 10):
            proof = solve(nonce, bits)
            cases.append({"nonce": nonce, "bits": bits, "proof": proof,
                          "work": work(nonce, proof)})
    return {"alg": "sha256", "message": "nonce ':' proof, UTF-8", "cases": cases}


def main() -> None:
    """Write the file."""
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    main()
