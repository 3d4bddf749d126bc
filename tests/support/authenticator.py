"""A FIDO2 authenticator in software for HTTP tests: P-256 credentials, "none" attestation, a
signature counter, user verification always done. It builds and signs what a browser and a
real authenticator would send (``PublicKeyCredential.toJSON()``), so the server's py_webauthn
checks run for real; the browser tests use Chromium's virtual authenticator instead."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    count: int = 0


class SoftAuthenticator:
    """Holds discoverable credentials and answers WebAuthn ceremonies for ``origin``."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.credentials: list[Credential] = []

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """Answer ``navigator.credentials.create`` options (as the server sent them)."""
        rp_id = options["rp"]["id"]
        cred = Credential(secrets.token_bytes(32), ec.generate_private_key(ec.SECP256R1()),
                          unb64url(options["user"]["id"]), rp_id)
        self.credentials.append(cred)
        numbers = cred.key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([0x45])
                     + struct.pack(">I", cred.count) + bytes(16)
                     + struct.pack(">H", len(cred.id)) + cred.id + cose)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": b64url(cred.id), "rawId": b64url(cred.id), "type": "public-key",
                "response": {"clientDataJSON": b64url(self._client_data(
                    "webauthn.create", options["challenge"])),
                    "attestationObject": b64url(attestation), "transports": ["internal"]},
                "clientExtensionResults": {}}

    def get(self, options: dict[str, Any], cred: Credential | None = None) -> dict[str, Any]:
        """Answer ``navigator.credentials.get`` options with ``cred`` (the last made)."""
        cred = cred or self.credentials[-1]
        cred.count += 1
        auth_data = (hashlib.sha256(options["rpId"].encode()).digest() + bytes([0x05])
                     + struct.pack(">I", cred.count))
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = cred.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return {"id": b64url(cred.id), "rawId": b64url(cred.id), "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data),
                             "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature),
                             "userHandle": b64url(cred.user_handle)},
                "clientExtensionResults": {}}
