"""Console accounts: users with roles, Argon2id passwords, TOTP, sessions, canned replies.

Passwords are hashed off the event loop; a TOTP code is accepted once (the time step is
remembered); repeated failures lock the account for a growing time. Sessions are random
tokens stored as SHA-256, rotated at every login, with an idle timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.pwhash
import pyotp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.records import metadata

ROLES = ("counsellor", "supervisor", "admin")
ISSUER = "Erstkontakt"
LOCK_AFTER = 5
SESSION_IDLE_S = 30 * 60
SESSION_MAX_S = 12 * 3600

users = sa.Table(
    "console_users", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("pseudonym", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("totp_secret", sa.String(64), nullable=False),
    sa.Column("totp_last_step", sa.BigInteger, nullable=False, default=0),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("failed", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.Float, nullable=False, default=0.0),
    sa.Column("certificate", sa.Text, nullable=True),
    sa.Column("created", sa.Float, nullable=False),
)

sessions = sa.Table(
    "console_sessions", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("console_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
)

canned = sa.Table(
    "console_canned", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("title", sa.String(120), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)


# The console's wrapped key material: opaque to the server (sealed in the browser under a key
# derived from the password). Added by migration 2.
user_keys = sa.Table(
    "console_user_keys", metadata,
    sa.Column("user_id", sa.String(32), sa.ForeignKey("console_users.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("blob", sa.Text, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)


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
        """New password and TOTP secret; every session of the account ends."""
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

    async def set_disabled(self, name: str, disabled: bool) -> str:
        """Disable (or enable) an account; returns its id. Sessions end on disable."""
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

    async def delete_canned(self, reply_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(canned).where(canned.c.id == reply_id))


# -- the `chatserver user` command ------------------------------------------------------


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``chatserver user add|list|disable|enable|reset``."""
    user = subparsers.add_parser("user", help="manage console accounts")
    sub = user.add_subparsers(dest="user_command", required=True)
    add = sub.add_parser("add", help="create an account (password from stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="counsellor")
    add.add_argument("--pseudonym", default="", help="the name visitors see")
    sub.add_parser("list", help="list accounts")
    cert = sub.add_parser("certify", help="install a certificate made by `chatserver keys certify`")
    cert.add_argument("name")
    cert.add_argument("certificate", help="the certificate JSON file")
    for verb in ("disable", "enable", "reset"):
        p = sub.add_parser(verb, help=f"{verb} an account" + (" (password from stdin)"
                                                            if verb == "reset" else ""))
        p.add_argument("name")
    user.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_run_async(args))


async def _run_async(args: argparse.Namespace) -> int:
    from chatserver.config import load_config
    from chatserver.main import KDF_COSTS
    from chatserver.storage import migrate, open_engine

    config = load_config()
    engine = open_engine(config)
    try:
        await migrate(engine)
        ops, mem = KDF_COSTS[config.kdf_cost]
        accounts = Users(engine, ops, mem)
        cmd = args.user_command
        if cmd == "list":
            for row in await accounts.list_users():
                state = "disabled" if row["disabled"] else "active"
                print(f"{row['name']}\t{row['role']}\t{row['pseudonym']}\t{state}")
        elif cmd == "certify":
            from pathlib import Path

            text = await asyncio.to_thread(Path(args.certificate).read_text, "utf-8")
            json.loads(text)  # refuse what is not JSON; clients verify the signature
            await accounts.set_certificate(args.name, text)
        elif cmd in ("add", "reset"):
            password = sys.stdin.readline().rstrip("\n")
            if cmd == "add":
                uri = await accounts.add(args.name, args.role, password, args.pseudonym)
            else:
                uri = await accounts.reset(args.name, password)
            print(uri)
        else:
            await accounts.set_disabled(args.name, cmd == "disable")
        return 0
    except (KeyError, ValueError, sa.exc.IntegrityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()


async def seed_demo_user(accounts: Users, name: str = "demo", role: str = "counsellor",
                         pseudonym: str = "Demo-Beraterin") -> tuple[str, str, str]:
    """Demo mode: an account (by default the counsellor ``demo``) with a fresh password;
    returns name, password, URI."""
    password = secrets.token_urlsafe(12)
    try:
        uri = await accounts.add(name, role, password, pseudonym=pseudonym)
    except sa.exc.IntegrityError:
        uri = await accounts.reset(name, password)
    return name, password, uri
