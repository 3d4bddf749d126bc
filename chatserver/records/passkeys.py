"""Passkeys (WebAuthn credentials) as the console's second sign-in factor, with py_webauthn.

Owns the ``console_passkeys`` and ``console_passkey_challenges`` tables: registering a
credential for an account, checking an assertion at sign-in, listing and removing them. Each
ceremony's challenge is made here, stored under the SHA-256 of a random attempt token, and
taken out of the database the first time anyone presents the token, whatever follows: it is
good once and for ``CHALLENGE_TTL_S``. The relying party (its id and the origins a ceremony may
come from) is configuration, never a request's Host header.

What a passkey's PRF extension gives the console to unlock its keys never comes here: sign-in
asks for no extension, and the browser sends none of their results.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
import webauthn
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from chatserver.records.schema import passkey_challenges, passkeys

CHALLENGE_TTL_S = 120.0
# Ceremonies under way at once (every node together): more is a flood, refused until they end.
MAX_PENDING = 10_000
MAX_PASSKEYS = 10
RP_NAME = "Erstkontakt"
SIGN_IN = "sign_in"
REGISTER = "register"
# A signed-in counsellor proves with a passkey they hold before another one is added.
CONFIRM = "confirm"


class Problem(StrEnum):
    """Why a passkey ceremony was refused."""

    UNAVAILABLE = "unavailable"  # no relying party: the console has no host name
    STALE = "stale"  # the attempt is unknown, used already or too old (a replay, or slow)
    UNKNOWN = "unknown"  # no account has this credential (never registered, or removed)
    INVALID = "invalid"  # the assertion or attestation does not verify
    TAKEN = "taken"  # the credential is registered already
    TOO_MANY = "too_many"  # the account has MAX_PASSKEYS
    BUSY = "busy"  # MAX_PENDING ceremonies under way
    # The account has a passkey, which the policy or the step asks for instead of a TOTP code
    # (only ever said once the password was right).
    REQUIRED = "required"


class PasskeyRefused(Exception):
    """A passkey ceremony was refused; ``problem`` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for: the relying party id (a host name) and the origins."""

    id: str
    origins: tuple[str, ...]


@dataclass(frozen=True)
class Assertion:
    """A sign-in with a passkey as the browser sent it: the attempt's token and the
    credential's assertion (PublicKeyCredential JSON, checked for shape at the edge)."""

    attempt: str
    credential: dict[str, Any]

    @property
    def credential_id(self) -> str:
        return str(self.credential.get("id", ""))


@dataclass(frozen=True)
class Checked:
    """What an assertion proved: the account its credential belongs to and the counter to
    store, or the problem."""

    problem: Problem | None
    user_id: str = ""
    credential_id: str = ""
    old_count: int = 0
    new_count: int = 0


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Passkeys:
    """The passkeys of console accounts over the database, for one relying party."""

    def __init__(self, engine: AsyncEngine, rp: RelyingParty | None) -> None:
        self.engine = engine
        self.rp = rp if rp is not None and rp.id and rp.origins else None

    def _party(self) -> RelyingParty:
        if self.rp is None:
            raise PasskeyRefused(Problem.UNAVAILABLE)
        return self.rp

    async def _issue(self, purpose: str, user_id: str | None, now: float) -> tuple[str, bytes]:
        """A fresh challenge for one ceremony and the token that names it."""
        token, challenge = secrets.token_urlsafe(32), secrets.token_bytes(32)
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(passkey_challenges)
                               .where(passkey_challenges.c.expires < now))
            pending = (await conn.execute(sa.select(sa.func.count())
                                          .select_from(passkey_challenges))).scalar_one()
            if pending >= MAX_PENDING:
                raise PasskeyRefused(Problem.BUSY)
            await conn.execute(sa.insert(passkey_challenges).values(
                key=_key(token), purpose=purpose, user_id=user_id,
                challenge=bytes_to_base64url(challenge), expires=now + CHALLENGE_TTL_S))
        return token, challenge

    async def _take(self, token: str, purpose: str, user_id: str | None,
                    now: float) -> bytes | None:
        """The challenge ``token`` names, taken out for good; None if it is unknown, taken
        already, too old or for another purpose or account."""
        key = _key(token)
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(passkey_challenges)
                                      .where(passkey_challenges.c.key == key))).first()
            if row is None:
                return None
            # Whoever deletes the row owns the challenge: two racing tries cannot both use it.
            taken = await conn.execute(sa.delete(passkey_challenges)
                                       .where(passkey_challenges.c.key == key))
        if (not taken.rowcount or row.expires < now or row.purpose != purpose
                or row.user_id != user_id):
            return None
        return webauthn.base64url_to_bytes(row.challenge)

    async def begin_registration(self, user_id: str, name: str, display: str,
                                 now: float) -> tuple[str, dict[str, Any]]:
        """A registration for the account: the attempt's token and the options for
        ``navigator.credentials.create`` (a discoverable credential with user verification)."""
        rp = self._party()
        async with self.engine.connect() as conn:
            have = [r.id for r in await conn.execute(
                sa.select(passkeys.c.id).where(passkeys.c.user_id == user_id))]
        if len(have) >= MAX_PASSKEYS:
            raise PasskeyRefused(Problem.TOO_MANY)
        token, challenge = await self._issue(REGISTER, user_id, now)
        options = webauthn.generate_registration_options(
            rp_id=rp.id, rp_name=RP_NAME, user_id=user_id.encode(), user_name=name,
            user_display_name=display, challenge=challenge,
            timeout=int(CHALLENGE_TTL_S * 1000),
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED),
            exclude_credentials=[PublicKeyCredentialDescriptor(
                id=webauthn.base64url_to_bytes(c)) for c in have])
        return token, json.loads(webauthn.options_to_json(options))

    async def register(self, user_id: str, attempt: str, credential: dict[str, Any],
                       label: str, now: float) -> str:
        """Verify the attestation of the registration ``attempt`` and store the credential;
        returns its id. :class:`PasskeyRefused` if it is stale, invalid or taken."""
        rp = self._party()
        challenge = await self._take(attempt, REGISTER, user_id, now)
        if challenge is None:
            raise PasskeyRefused(Problem.STALE)
        try:
            verified = webauthn.verify_registration_response(
                credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
                expected_origin=list(rp.origins), require_user_verification=True)
        except (WebAuthnException, ValueError, KeyError, TypeError):
            raise PasskeyRefused(Problem.INVALID) from None
        cred_id = bytes_to_base64url(verified.credential_id)
        async with self.engine.begin() as conn:
            count = (await conn.execute(sa.select(sa.func.count()).select_from(passkeys)
                                        .where(passkeys.c.user_id == user_id))).scalar_one()
            if count >= MAX_PASSKEYS:
                raise PasskeyRefused(Problem.TOO_MANY)
            taken = (await conn.execute(sa.select(passkeys.c.id)
                                        .where(passkeys.c.id == cred_id))).first()
            if taken is not None:
                raise PasskeyRefused(Problem.TAKEN)
            await conn.execute(sa.insert(passkeys).values(
                id=cred_id, user_id=user_id,
                public_key=bytes_to_base64url(verified.credential_public_key),
                sign_count=verified.sign_count, label=label, created=now, last_used=None))
        return cred_id

    async def begin_sign_in(self, now: float) -> tuple[str, dict[str, Any]]:
        """A sign-in attempt: its token and the options for ``navigator.credentials.get``.

        No credential is listed: the authenticator offers the discoverable ones it holds, so
        the options tell nobody which accounts exist or which passkeys they have."""
        rp = self._party()
        token, challenge = await self._issue(SIGN_IN, None, now)
        options = webauthn.generate_authentication_options(
            rp_id=rp.id, challenge=challenge, timeout=int(CHALLENGE_TTL_S * 1000),
            user_verification=UserVerificationRequirement.REQUIRED)
        return token, json.loads(webauthn.options_to_json(options))

    async def begin_confirmation(self, user_id: str, now: float) -> tuple[str, dict[str, Any]]:
        """A ceremony in which the signed-in account proves it holds one of its passkeys
        (before another is added): the attempt's token and request options listing exactly
        the account's passkeys. :class:`PasskeyRefused` (``unknown``) if it has none."""
        rp = self._party()
        async with self.engine.connect() as conn:
            have = [r.id for r in await conn.execute(
                sa.select(passkeys.c.id).where(passkeys.c.user_id == user_id))]
        if not have:
            raise PasskeyRefused(Problem.UNKNOWN)
        token, challenge = await self._issue(CONFIRM, user_id, now)
        options = webauthn.generate_authentication_options(
            rp_id=rp.id, challenge=challenge, timeout=int(CHALLENGE_TTL_S * 1000),
            user_verification=UserVerificationRequirement.REQUIRED,
            allow_credentials=[PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(c))
                               for c in have])
        return token, json.loads(webauthn.options_to_json(options))

    async def count(self, user_id: str) -> int:
        """How many passkeys the account has."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(passkeys)
                                           .where(passkeys.c.user_id == user_id))).scalar_one())

    async def check(self, assertion: Assertion, now: float, purpose: str = SIGN_IN,
                    user_id: str | None = None) -> Checked:
        """Check a sign-in assertion (or, with ``purpose`` CONFIRM, the signed-in account
        ``user_id`` confirming) without writing anything but the challenge's removal (the
        counter is stored by :meth:`note_use` once the whole step succeeded)."""
        if self.rp is None:
            return Checked(Problem.UNAVAILABLE)
        challenge = await self._take(assertion.attempt, purpose, user_id, now)
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(passkeys).where(
                passkeys.c.id == assertion.credential_id))).first()
        if challenge is None:
            return Checked(Problem.STALE)
        if row is None:
            return Checked(Problem.UNKNOWN)
        try:
            verified = webauthn.verify_authentication_response(
                credential=assertion.credential, expected_challenge=challenge,
                expected_rp_id=self.rp.id, expected_origin=list(self.rp.origins),
                credential_public_key=webauthn.base64url_to_bytes(row.public_key),
                credential_current_sign_count=row.sign_count, require_user_verification=True)
        except (WebAuthnException, ValueError, KeyError, TypeError):
            return Checked(Problem.INVALID, row.user_id)
        return Checked(None, row.user_id, row.id, row.sign_count, verified.new_sign_count)

    @staticmethod
    async def note_use(conn: AsyncConnection, checked: Checked, now: float) -> bool:
        """Store the counter of a checked assertion, in the caller's transaction; False if
        another sign-in with the same credential came first."""
        done = await conn.execute(
            sa.update(passkeys)
            .where(passkeys.c.id == checked.credential_id,
                   passkeys.c.sign_count == checked.old_count)
            .values(sign_count=checked.new_count, last_used=now))
        return bool(done.rowcount)

    async def listing(self, user_id: str) -> list[dict[str, Any]]:
        """The account's passkeys, oldest first (ids, labels, times; no keys)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(passkeys.c.id, passkeys.c.label, passkeys.c.created,
                          passkeys.c.last_used)
                .where(passkeys.c.user_id == user_id)
                .order_by(passkeys.c.created, passkeys.c.id))
            return [dict(r._mapping) for r in rows]

    async def remove(self, user_id: str, credential_id: str) -> bool:
        """Remove one of the account's own passkeys; False if it has none by that id."""
        async with self.engine.begin() as conn:
            done = await conn.execute(sa.delete(passkeys).where(
                passkeys.c.user_id == user_id, passkeys.c.id == credential_id))
        return bool(done.rowcount)

    @staticmethod
    async def revoke_all(conn: AsyncConnection, user_id: str) -> None:
        """Remove every passkey of the account and its ceremonies under way, in the caller's
        transaction (an administrator disabled or reset it)."""
        await conn.execute(sa.delete(passkeys).where(passkeys.c.user_id == user_id))
        await conn.execute(sa.delete(passkey_challenges)
                           .where(passkey_challenges.c.user_id == user_id))
