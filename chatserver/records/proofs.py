"""What the server checks of the signatures it keeps and hands on: a counsellor's box key and a
drop answer must be signed by that counsellor's own certified identity key.

Consoles and the widget check these chains themselves against the pinned organisation key
(docs/protocol.md, "Keys bound to identities"); the server checks them too before it stores
anything, so that its database holds no proof a client would refuse, and a console of a
counsellor whose key was revoked, or who presents a colleague's certificate, is told so at once.
"Certified" means: the certificate leads to ``CHATSERVER_ORG_PUBLIC_KEY``, is current, its key
is not on the configured revocation list, and it is the account's own (the certificate an
administrator installed for it; in demo mode, where the server certifies every console's key
itself, one naming the account's pseudonym). Without an organisation key nothing can be
certified, and only the signature's agreement with the certificate presented is checked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver import crypto
from chatserver.config import Config
from chatserver.errors import DomainError, ErrorCode, forbidden, invalid
from chatserver.records.schema import users

NOT_CERTIFIED = ("Your identity key is not certified by the organisation (or not for this "
                 "account): ask an administrator to certify it (chatserver keys certify, "
                 "chatserver user certify).")


class Proofs:
    """Checks of box-key signatures and drop-answer signatures against certified keys."""

    def __init__(self, config: Config, engine: AsyncEngine,
                 clock: Callable[[], float]) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock

    @property
    def org_key(self) -> bytes | None:
        return crypto.b64decode(self.config.org_public_key) if self.config.org_public_key \
            else None

    async def revoked(self, org_key: bytes) -> frozenset[bytes]:
        """The keys on the configured revocation list (its age does not matter here: an old
        list still names keys that must not be accepted); none without a list."""
        if not self.config.revocations_file:
            return frozenset()
        try:
            text = await asyncio.to_thread(Path(self.config.revocations_file).read_text,
                                           "utf-8")
            return crypto.verify_revocation_list(json.loads(text), org_key, 0, max_age=2**62)
        except (OSError, ValueError, crypto.CryptoError):
            raise DomainError(ErrorCode.UNAVAILABLE,
                              "The revocation list cannot be read; nothing signed is "
                              "accepted until it can.") from None

    async def certified(self, user_id: str, certificate: Any) -> crypto.Certified | None:
        """The account's certified identity as ``certificate`` states it; None when no
        organisation key is configured. Refused (``forbidden``) when it is not certified,
        revoked, expired or not this account's."""
        org_key = self.org_key
        if org_key is None:
            return None
        if certificate is None:
            raise invalid(NOT_CERTIFIED)
        revoked = await self.revoked(org_key)
        try:
            certified = crypto.verify_certificate(certificate, org_key, int(self.clock()),
                                                  revoked)
        except crypto.RevokedCertificate:
            raise forbidden("Your identity key has been revoked by the organisation.") from None
        except crypto.CertificateError:
            raise invalid(NOT_CERTIFIED) from None
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(users.c.pseudonym, users.c.certificate,
                                                users.c.disabled)
                                      .where(users.c.id == user_id))).first()
        if row is None or row.disabled:
            raise forbidden("This account is disabled.")
        if self.config.demo:
            own = certified.pseudonym == row.pseudonym
        else:
            try:
                installed = json.loads(row.certificate) if row.certificate else {}
            except ValueError:
                installed = {}
            own = isinstance(installed, dict) and \
                installed.get("key") == crypto.b64encode(certified.identity_key)
        if not own:
            raise invalid(NOT_CERTIFIED)
        return certified

    @staticmethod
    def _signer(certificate: Any) -> bytes:
        """The key a certificate names (its signature unchecked), or ``invalid``."""
        try:
            return crypto.b64decode(certificate["key"]) if isinstance(certificate, dict) \
                else b""
        except (KeyError, crypto.CryptoError):
            return b""

    async def check_box_key(self, user_id: str, box_pk: str, box_sig: str,
                            certificate: dict[str, Any] | None) -> None:
        """Refuse a box key that the account's certified identity key did not sign."""
        certified = await self.certified(user_id, certificate)
        signer = certified.identity_key if certified else self._signer(certificate)
        if certificate is None and certified is None:
            return  # nothing certified here at all: no client grants to it either
        if len(signer) != crypto.KEY_BYTES or not crypto.verify_signature(
                signer, crypto.box_key_bytes(signer, crypto.b64decode(box_pk)),
                crypto.b64decode(box_sig)):
            raise invalid("The box key is not signed by your certified identity key.")

    async def check_drop_answer(self, user_id: str, answer: dict[str, Any],
                                lookup: str) -> None:
        """Refuse an answer that the account's certified identity key did not sign for this
        drop's lookup value and this sealed text."""
        certificate = answer.get("certificate")
        certified = await self.certified(user_id, certificate)
        signer = certified.identity_key if certified else self._signer(certificate)
        try:
            sealed = crypto.b64decode(answer["sealed"])
            sig = crypto.b64decode(answer["sig"])
            good = len(signer) == crypto.KEY_BYTES and crypto.verify_signature(
                signer, crypto.drop_answer_bytes(crypto.b64decode(lookup), sealed), sig)
        except (KeyError, crypto.CryptoError):
            good = False
        if not good:
            raise invalid("The answer is not signed by your certified key for this message.")
