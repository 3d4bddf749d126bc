"""Write ``tests/vectors/epochs.json``: known answers for the records key's epochs and the
offline recovery key (docs/protocol.md, "Rotation of the records key"), for both languages.

Fixed seeds, so running it again gives the same file:
``.venv/bin/python -m tests.vectors.generate_epochs``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from chatserver import crypto
from tests.vectors.generate import DAY, NOW, fixed, seed

OUT = Path(__file__).with_name("epochs.json")


def _pair(name: str) -> tuple[bytes, bytes]:
    sk = seed(name)
    return sk, sodium.crypto_scalarmult_base(sk)


def build() -> dict[str, Any]:
    """Three epochs with their links, a record key sealed to each, a swapped link, and the
    recovery key: its secret, its certificate (valid and refused ones), an epoch sealed to it."""
    org = crypto.SigningSeed(seed("org"))
    other = crypto.SigningSeed(seed("other org"))
    epochs = [_pair(f"records epoch {n}") for n in (1, 2, 3)]
    links: list[str | None] = [None]
    for n in (1, 2):
        links.append(crypto.seal(epochs[n][1], epochs[n - 1][0],
                                 rng=fixed(seed(f"link esk {n + 1}"))).hex())
    sealed = [crypto.seal(pk, seed(f"record key {n}"), rng=fixed(seed(f"record esk {n}"))).hex()
              for n, (_, pk) in enumerate(epochs, 1)]
    # A link to epoch 3 that seals a stranger's secret, not epoch 2's: it must not count.
    stranger = seed("stranger")
    swapped = crypto.seal(epochs[2][1], stranger, rng=fixed(seed("swapped esk"))).hex()

    secret = crypto.generate_recovery_secret(rng=fixed(seed("recovery", 32)))
    recovery_sk, recovery_pk = crypto.recovery_keys(secret)
    typed = secret.upper().replace("-", " ").replace("0", "o").replace("1", "l")
    serial = seed("recovery serial", 16)
    cert = crypto.issue_recovery_certificate(org, recovery_pk, NOW - DAY, NOW + 3650 * DAY,
                                             serial)
    records_cert = crypto.issue_records_certificate(org, recovery_pk, NOW - DAY,
                                                    NOW + 365 * DAY, serial)
    refused = [
        {"name": "another organisation", "pk": crypto.b64encode(recovery_pk),
         "cert": crypto.issue_recovery_certificate(other, recovery_pk, NOW - DAY,
                                                   NOW + DAY, serial),
         "error": "certificate"},
        {"name": "a records-key certificate", "pk": crypto.b64encode(recovery_pk),
         "cert": {**{k: v for k, v in records_cert.items() if k != "records_pk"},
                  "recovery_pk": records_cert["records_pk"]},
         "error": "certificate"},
        {"name": "a served key written into the database", "pk": crypto.b64encode(epochs[0][1]),
         "cert": cert, "error": "certificate"},
        {"name": "expired", "pk": crypto.b64encode(recovery_pk),
         "cert": crypto.issue_recovery_certificate(org, recovery_pk, NOW - 10 * DAY,
                                                   NOW - DAY, serial),
         "error": "expired"},
        {"name": "revoked", "pk": crypto.b64encode(recovery_pk), "cert": cert,
         "revoked": [crypto.b64encode(recovery_pk)], "error": "revoked"},
    ]
    return {
        "now": NOW,
        "org_public_key": crypto.b64encode(org.public_key),
        "epochs": [{"epoch": n, "sk": sk.hex(), "pk": crypto.b64encode(pk), "link": links[n - 1],
                    "sealed_record_key": sealed[n - 1], "record_key": seed(f"record key {n}").hex()}
                   for n, (sk, pk) in enumerate(epochs, 1)],
        "swapped_link": {"link": swapped, "error": "tampered"},
        "recovery": {
            "randomness": seed("recovery", 32).hex(),
            "secret": secret,
            "typed": typed,
            "sk": recovery_sk.hex(),
            "pk": crypto.b64encode(recovery_pk),
            "certificate": cert,
            "refused": refused,
            "sealed_epoch": crypto.seal(recovery_pk, epochs[2][0],
                                        rng=fixed(seed("recovery seal esk"))).hex(),
            "wrong_secrets": ["0000-0000-0000-0000-0000-0000-0000-0000", "kurz", secret[:-1]],
        },
    }


def main() -> None:
    """Write the file."""
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    main()
