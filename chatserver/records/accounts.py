"""Console accounts: users with roles, Argon2id passwords, TOTP, sessions, canned replies.

Passwords are hashed off the event loop; a TOTP code is accepted once (the time step is
remembered); repeated failures lock the account for a growing time. Sessions are random
tokens stored as SHA-256, rotated at every login, with an idle timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.pwhash
import pyotp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.records.schema import canned, sessions, user_keys, users
from chatserver.vocabulary import Role

ROLES = tuple(role.value for role in Role)
ISSUER = "Erstkontakt"
LOCK_AFTER = 5
SESSION_IDLE_S = 30 * 60
SESSION_MAX_S = 12 * 3600


class LoginRefused(Exception):
    """Login failed; the reason is deliberately the same for every cause."""


@dataclass(frozen=True)
class User:
    """A console account as the console needs it."""

    id: str
    name: str
    pseudonym: str
    role: str


@dataclass(frozen=True)
class Session:
    """A signed-in console session."""

    key: str
    user: User
    csrf: str


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    """Accounts and sessions over the database; Argon2id cost set by the caller."""

    def __init__(self, engine: AsyncEngine, opslimit: int, memlimit: int) -> None:
        self.engine = engine
        self.ops = opslimit
        self.mem = memlimit
        # A real hash to verify against for unknown names, so timing does not tell.
        self._decoy = nacl.pwhash.argon2id.str(secrets.token_bytes(16), opslimit=opslimit,
                                               memlimit=memlimit)

    async def _hash(self, password: str) -> str:
        raw = await asyncio.to_thread(nacl.pwhash.argon2id.str, password.encode(),
                                      opslimit=self.ops, memlimit=self.mem)
        return raw.decode()

    async def _verify(self, stored: bytes, password: str) -> bool:
        try:
            return bool(await asyncio.to_thread(nacl.pwhash.verify, stored, password.encode()))
        except nacl.exceptions.InvalidkeyError:
            return False

    async def add(self, name: str, role: str, password: str, pseudonym: str = "") -> str:
        """Create an account; returns the otpauth:// URI for the authenticator app."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < 12:
            raise ValueError("password must have at least 12 characters")
        secret = pyotp.random_base32()
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(users).values(
                id=secrets.token_hex(8), name=name, pseudonym=pseudonym or name, role=role,
                password_hash=await self._hash(password), totp_secret=secret,
                totp_last_step=0, disabled=False, failed=0, locked_until=0.0,
                created=time.time()))
        return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)

    async def reset(self, name: str, password: str) -> str:
        """New password and TOTP secret; every console session of the account ends (its socket
        tokens do not yet: see issue 15)."""
        secret = pyotp.random_base32()
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(users.c.id).where(users.c.name == name))).first()
            if row is None:
                raise KeyError(name)
            await conn.execute(sa.update(users).where(users.c.id == row[0]).values(
                password_hash=await self._hash(password), totp_secret=secret, totp_last_step=0,
                failed=0, locked_until=0.0))
            await conn.execute(sa.delete(sessions).where(sessions.c.user_id == row[0]))
        return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)

    async def check_password(self, name: str, password: str) -> bool:
        """True if ``password`` is the account's (no login, no failure counted)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(users.c.password_hash)
                                      .where(users.c.name == name))).first()
        return row is not None and await self._verify(row[0].encode(), password)

    async def totp_uri(self, name: str) -> str:
        """The account's otpauth:// URI as it was handed out (demo mode prints it again)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(users.c.totp_secret)
                                      .where(users.c.name == name))).first()
        if row is None:
            raise KeyError(name)
        return pyotp.TOTP(row[0]).provisioning_uri(name=name, issuer_name=ISSUER)

    async def set_disabled(self, name: str, disabled: bool) -> str:
        """Disable (or enable) an account; returns its id. Its console sessions end on disable;
        its socket tokens and its records grant do not yet (see issue 15)."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(users.c.id).where(users.c.name == name))).first()
            if row is None:
                raise KeyError(name)
            await conn.execute(sa.update(users).where(users.c.id == row[0])
                               .values(disabled=disabled))
            if disabled:
                await conn.execute(sa.delete(sessions).where(sessions.c.user_id == row[0]))
            return str(row[0])

    async def list_users(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(users.c.name, users.c.pseudonym, users.c.role,
                                                users.c.disabled).order_by(users.c.name))
            return [dict(r._mapping) for r in rows]

    async def login(self, name: str, password: str, code: str, now: float) -> Session:
        """Check password and TOTP; a fresh session on success, :class:`LoginRefused` if not."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(users).where(users.c.name == name))).first()
        if row is None:
            await self._verify(self._decoy, password)
            raise LoginRefused()
        if row.disabled or row.locked_until > now:
            raise LoginRefused()
        ok = await self._verify(row.password_hash.encode(), password)
        step = self._totp_step(row.totp_secret, code, now) if ok else 0
        if not ok or step <= row.totp_last_step:
            failed = row.failed + 1
            lock = now + 60 * 2 ** min(failed - LOCK_AFTER, 10) if failed >= LOCK_AFTER else 0.0
            # Committed before refusing: a rolled-back counter would never lock anything.
            async with self.engine.begin() as conn:
                await conn.execute(sa.update(users).where(users.c.id == row.id)
                                   .values(failed=failed, locked_until=min(lock, now + 86400)))
            raise LoginRefused()
        async with self.engine.begin() as conn:
            # Conditional, so two logins racing with one code cannot both win.
            won = await conn.execute(
                sa.update(users)
                .where(users.c.id == row.id, users.c.totp_last_step < step)
                .values(failed=0, locked_until=0.0, totp_last_step=step))
            if not won.rowcount:
                raise LoginRefused()
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            await conn.execute(sa.insert(sessions).values(
                key=_key(token), user_id=row.id, csrf=csrf, created=now, last_seen=now))
        return Session(token, User(row.id, row.name, row.pseudonym, row.role), csrf)

    @staticmethod
    def _totp_step(secret: str, code: str, now: float) -> int:
        """The time step ``code`` belongs to (±1 step), or 0."""
        totp = pyotp.TOTP(secret)
        code = code.strip().replace(" ", "")
        step = int(now // totp.interval)
        for candidate in (step, step - 1, step + 1):
            if secrets.compare_digest(totp.at(candidate * totp.interval), code):
                return candidate
        return 0

    async def session(self, token: str, now: float) -> Session | None:
        """The live session for ``token`` (touching it), or None if unknown or expired."""
        key = _key(token)
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                sa.select(sessions, users.c.name, users.c.pseudonym, users.c.role,
                          users.c.disabled)
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.key == key))).first()
            if row is None:
                return None
            if (row.disabled or now - row.last_seen > SESSION_IDLE_S
                    or now - row.created > SESSION_MAX_S):
                await conn.execute(sa.delete(sessions).where(sessions.c.key == key))
                return None
            await conn.execute(sa.update(sessions).where(sessions.c.key == key)
                               .values(last_seen=now))
        return Session(token, User(row.user_id, row.name, row.pseudonym, row.role), row.csrf)

    async def logout(self, token: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(sessions).where(sessions.c.key == _key(token)))

    async def set_certificate(self, name: str, certificate: str) -> None:
        """Install the certificate the organisation key issued offline for this account."""
        async with self.engine.begin() as conn:
            done = await conn.execute(sa.update(users).where(users.c.name == name)
                                      .values(certificate=certificate))
            if not done.rowcount:
                raise KeyError(name)

    async def certificate(self, user_id: str) -> str:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(users.c.certificate)
                                      .where(users.c.id == user_id))).first()
            return str(row[0]) if row and row[0] else ""

    async def keys_blob(self, user_id: str) -> str:
        """The account's wrapped key material, or "" before the first login."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(user_keys.c.blob)
                                      .where(user_keys.c.user_id == user_id))).first()
            return str(row[0]) if row else ""

    async def set_keys_blob(self, user_id: str, blob: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(user_keys).where(user_keys.c.user_id == user_id))
            await conn.execute(sa.insert(user_keys).values(user_id=user_id, blob=blob,
                                                           updated=time.time()))

    async def canned(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(canned.c.id, canned.c.title, canned.c.body)
                                      .order_by(canned.c.title))
            return [dict(r._mapping) for r in rows]

    async def add_canned(self, title: str, body: str) -> str:
        reply_id = secrets.token_hex(8)
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(canned).values(id=reply_id, title=title, body=body,
                                                        created=time.time()))
        return reply_id


# -- the `chatserver user` command ------------------------------------------------------
