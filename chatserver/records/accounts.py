"""Console accounts: users with roles, Argon2id passwords, TOTP, sessions, canned replies and
each counsellor's notification settings.

Passwords are hashed off the event loop. The second factor is a TOTP code, accepted once (the
time step is remembered), or a passkey (:mod:`chatserver.records.passkeys`), each assertion
answering a challenge that is good once. Failed sign-ins slow down further tries of the same
name and the same client (:mod:`chatserver.records.throttle`) but never lock an account.
Sessions are random tokens stored as SHA-256, rotated at every login, with an idle timeout and
a maximum age; socket tokens are issued from a session and are good only while it is
(:meth:`Users.live_sessions`). Disabling or resetting an account ends its sessions, removes
its passkeys and takes its records key away.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import nacl.exceptions
import nacl.pwhash
import pyotp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatserver.records.passkeys import (
    CONFIRM,
    SIGN_IN,
    Assertion,
    Passkeys,
    Problem,
    RelyingParty,
)
from chatserver.records.schema import (
    canned,
    counsellor_settings,
    key_wraps,
    passkeys,
    sessions,
    user_keys,
    users,
)
from chatserver.records.store import Keyring
from chatserver.records.throttle import SignInThrottle
from chatserver.vocabulary import COUNSELLOR_ROLES, Lang, Role

log = logging.getLogger(__name__)

ROLES = tuple(role.value for role in Role)
ISSUER = "Erstkontakt"
MIN_PASSWORD = 12
SESSION_IDLE_S = 30 * 60
SESSION_MAX_S = 12 * 3600
# An open socket keeps its session alive; writing that down once a minute is enough.
TOUCH_S = 60.0
# Key wraps one account may hold (unlock methods times devices); each is added, never replaced.
MAX_KEY_WRAPS = 20


class KeyWrapRefused(Exception):
    """A key wrap was not added: its id is taken (wraps are never replaced) or too many."""


class LoginRefused(Exception):
    """Login failed; the reason is deliberately the same for every cause about the account.

    Only a passkey's own trouble is named (``problem``): an attempt that is stale (used
    already: a replay, or too old) or a credential no account has. Neither says anything about
    the account, its password or whether it exists."""

    problem: Problem | None = None

    def __init__(self, *args: object, problem: Problem | None = None) -> None:
        super().__init__(*args)
        self.problem = problem


class LoginThrottled(LoginRefused):
    """This client failed too often lately; it may try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    """A console account as the console needs it."""

    id: str
    name: str
    pseudonym: str
    role: str
    # The language the console speaks to this account (vocabulary.Lang), its own choice.
    language: str = Lang.DE.value


@dataclass(frozen=True)
class Session:
    """A signed-in console session."""

    key: str
    user: User
    csrf: str
    created: float
    # The password was set by an administrator: nothing but choosing a new one until then.
    password_once: bool = False

    @property
    def ref(self) -> str:
        """The session as stored (the SHA-256 of its token): what its socket tokens name."""
        return _key(self.key)

    def remaining(self, now: float) -> float:
        """Seconds until the session ends however busy it is (``SESSION_MAX_S`` after login)."""
        return self.created + SESSION_MAX_S - now


@dataclass(frozen=True)
class CounsellorSettings:
    """One counsellor's notification choices, all off until they choose: whether a new request
    and a new message in a chat in the background ring and show a desktop notice."""

    request_sound: bool = False
    request_notice: bool = False
    message_sound: bool = False
    message_notice: bool = False


class LiveSession(NamedTuple):
    """A console session that is still good, as the socket edge checks it."""

    user_id: str
    last_seen: float


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_new_password(password: str) -> None:
    """Refuse a password shorter than the minimum."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must have at least {MIN_PASSWORD} characters")


def check_pseudonym(name: str, pseudonym: str) -> None:
    """Refuse a missing pseudonym or one that gives the login name away to visitors."""
    shown = pseudonym.strip()
    if not shown:
        raise ValueError("a pseudonym is required: the only name visitors see")
    if len(shown.encode()) > 64:
        raise ValueError("the pseudonym must fit in 64 bytes")
    if shown.casefold() == name.strip().casefold():
        raise ValueError("the pseudonym must differ from the login name")


class Users:
    """Accounts and sessions over the database; Argon2id cost set by the caller."""

    def __init__(self, engine: AsyncEngine, opslimit: int, memlimit: int,
                 throttle: SignInThrottle | None = None,
                 relying_party: RelyingParty | None = None,
                 require_passkey: bool = False) -> None:
        self.engine = engine
        self.passkeys = Passkeys(engine, relying_party)
        # CHATSERVER_REQUIRE_PASSKEY: an account with a passkey signs in with it, never a code.
        self.require_passkey = require_passkey
        self.ops = opslimit
        self.mem = memlimit
        self.throttle = throttle or SignInThrottle()
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

    async def add(self, name: str, role: str, password: str, pseudonym: str,
                  one_time: bool = False) -> str:
        """Create an account; returns the otpauth:// URI for the authenticator app.

        ``one_time`` (what ``chatserver user add`` sets): the password only signs in once, to
        choose the account's own password before anything else."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not 0 < len(name) <= 64:
            raise ValueError("the login name must have 1 to 64 characters")
        check_new_password(password)
        check_pseudonym(name, pseudonym)
        secret = pyotp.random_base32()
        password_hash = await self._hash(password)
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(users).values(
                id=secrets.token_hex(8), name=name, pseudonym=pseudonym.strip(), role=role,
                password_hash=password_hash, totp_secret=secret,
                totp_last_step=0, disabled=False, failed=0, locked_until=0.0,
                created=time.time(), password_once=one_time))
        return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)

    async def find(self, name: str) -> User | None:
        """The account signing in as ``name``, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(users).where(users.c.name == name))).first()
        return None if row is None else User(row.id, row.name, row.pseudonym, row.role,
                                             row.language)

    @staticmethod
    async def _id(conn: AsyncConnection, name: str) -> str:
        row = (await conn.execute(sa.select(users.c.id).where(users.c.name == name))).first()
        if row is None:
            raise KeyError(name)
        return str(row[0])

    @staticmethod
    async def _shut(conn: AsyncConnection, user_id: str) -> None:
        """End every console session of the account (and with them every socket token issued
        from one) and take its records key away, in the caller's transaction."""
        await conn.execute(sa.delete(sessions).where(sessions.c.user_id == user_id))
        await Keyring.revoke(conn, user_id, time.time())
        await Passkeys.revoke_all(conn, user_id)

    async def reset(self, name: str, password: str, one_time: bool = True) -> str:
        """New password and TOTP secret; the account's sessions, socket tokens, passkeys and
        records grant end at once (open sockets within a second). Returns the new otpauth:// URI.
        The password is one-time unless said otherwise (demo mode keeps its printed one)."""
        check_new_password(password)
        secret = pyotp.random_base32()
        password_hash = await self._hash(password)
        async with self.engine.begin() as conn:
            user_id = await self._id(conn, name)
            await conn.execute(sa.update(users).where(users.c.id == user_id).values(
                password_hash=password_hash, totp_secret=secret, totp_last_step=0,
                password_once=one_time))
            await self._shut(conn, user_id)
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
        """Disable (or enable) an account; returns its id. Disabling ends its sessions, socket
        tokens, passkeys and records grant at once (open sockets within a second); enabling
        brings none of them back."""
        async with self.engine.begin() as conn:
            user_id = await self._id(conn, name)
            await conn.execute(sa.update(users).where(users.c.id == user_id)
                               .values(disabled=disabled))
            if disabled:
                await self._shut(conn, user_id)
            return user_id

    async def by_id(self) -> dict[str, User]:
        """Every account by its id (the audit trail names accounts by id)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(users.c.id, users.c.name, users.c.pseudonym,
                                                users.c.role))
            return {r.id: User(r.id, r.name, r.pseudonym, r.role) for r in rows}

    async def list_users(self) -> list[dict[str, Any]]:
        """Every account with its number of passkeys and when one was last used (or None)."""
        keys = (sa.select(passkeys.c.user_id, sa.func.count().label("passkeys"),
                          sa.func.max(passkeys.c.last_used).label("passkey_used"))
                .group_by(passkeys.c.user_id).subquery())
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(users.c.name, users.c.pseudonym, users.c.role, users.c.disabled,
                          sa.func.coalesce(keys.c.passkeys, 0).label("passkeys"),
                          keys.c.passkey_used)
                .select_from(users.outerjoin(keys, keys.c.user_id == users.c.id))
                .order_by(users.c.name))
            return [dict(r._mapping) for r in rows]

    async def passkey_missing(self, user_id: str) -> bool:
        """True if the policy requires a passkey and the account has none yet (it is sent to
        register one before anything else)."""
        return self.require_passkey and await self.passkeys.count(user_id) == 0

    async def login(self, name: str, password: str, code: str, now: float,
                    client: str = "", passkey: Assertion | None = None) -> Session:
        """Check password and second factor (the TOTP ``code``, or a ``passkey`` assertion);
        a fresh session on success, :class:`LoginRefused` if not.

        ``client`` is the edge's opaque key for where the request came from ("" for none).
        A client that failed too often is refused (:class:`LoginThrottled`) before anything
        is checked; a name that failed too often is held back, never refused. Unknown,
        disabled and real accounts cost the same: one password hash, one query, no write.
        """
        row = await self._authenticate(name, password, code, now, client, passkey)
        async with self.engine.begin() as conn:
            return await self._open(conn, User(row.id, row.name, row.pseudonym, row.role,
                                               row.language), now, row.password_once)

    async def confirm(self, session: Session, password: str, code: str, now: float,
                      client: str = "", passkey: Assertion | None = None) -> None:
        """The signed-in counsellor confirms password and second factor again (before a
        passkey is added): an account that has a passkey confirms with one of its own
        (``passkey``, a CONFIRM ceremony), never a TOTP code; one without, with the code.
        Throttled and refused (:class:`LoginRefused`) like a sign-in."""
        await self._authenticate(session.user.name, password, code, now, client, passkey,
                                 purpose=CONFIRM, user_id=session.user.id)

    async def _authenticate(self, name: str, password: str, code: str, now: float,
                            client: str, passkey: Assertion | None, purpose: str = SIGN_IN,
                            user_id: str | None = None) -> Any:
        """The account row if password and second factor hold (the factor is used up)."""
        wait = self.throttle.clients.wait(client, now) if client else 0.0
        if wait > 0:
            raise LoginThrottled(wait)
        name_key = self.throttle.name_key(name)
        hold = self.throttle.accounts.wait(name_key, now)
        if hold > 0:
            await asyncio.sleep(hold)
            now += hold
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(users).where(users.c.name == name))).first()
        ok = await self._verify(self._decoy if row is None else row.password_hash.encode(),
                                password)
        if passkey is not None:
            checked = await self.passkeys.check(passkey, now, purpose, user_id)
            if checked.problem in (Problem.STALE, Problem.UNKNOWN, Problem.UNAVAILABLE):
                # About the passkey alone, whatever the name and password were.
                self._failed(name_key, client, now, row)
                raise LoginRefused(problem=checked.problem)
            if (row is None or row.disabled or not ok or checked.problem is not None
                    or checked.user_id != row.id):
                self._failed(name_key, client, now, row)
                raise LoginRefused()
            async with self.engine.begin() as conn:
                # Conditional, so two sign-ins with one counter value cannot both win.
                if not await Passkeys.note_use(conn, checked, now):
                    raise LoginRefused(problem=Problem.STALE)
        else:
            if (ok and row is not None and not row.disabled
                    and (purpose == CONFIRM or self.require_passkey)
                    and await self.passkeys.count(row.id)):
                # Said only to whoever knows the password; the code is not used up.
                raise LoginRefused(problem=Problem.REQUIRED)
            step = self._totp_step(row.totp_secret, code, now) if ok and row is not None else 0
            if row is None or row.disabled or not ok or step <= row.totp_last_step:
                self._failed(name_key, client, now, row)
                raise LoginRefused()
            async with self.engine.begin() as conn:
                # Conditional, so two logins racing with one code cannot both win.
                won = await conn.execute(
                    sa.update(users)
                    .where(users.c.id == row.id, users.c.totp_last_step < step)
                    .values(totp_last_step=step))
                if not won.rowcount:
                    raise LoginRefused()
        self.throttle.accounts.succeeded(name_key)
        if client:
            self.throttle.clients.succeeded(client)
        return row

    def _failed(self, name_key: str, client: str, now: float, row: Any) -> None:
        in_a_row = self.throttle.accounts.failed(name_key, now)
        from_client = self.throttle.clients.failed(client, now) if client else 0
        # Never the name typed (it may be a password in the wrong field), never an address.
        who = "an unknown name" if row is None else f"account {row.id}" + (
            " (disabled)" if row.disabled else "")
        log.warning("console sign-in refused for %s: %d failures in a row for this name, "
                    "%d from this client", who, in_a_row, from_client)

    @staticmethod
    async def _open(conn: AsyncConnection, user: User, now: float,
                    password_once: bool = False) -> Session:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await conn.execute(sa.insert(sessions).values(
            key=_key(token), user_id=user.id, csrf=csrf, created=now, last_seen=now))
        return Session(token, user, csrf, now, password_once)

    async def change_password(self, session: Session, password: str) -> None:
        """The signed-in counsellor's own new password (ValueError if too short or the one
        they had); it ends the one-time password and every other session of the account."""
        check_new_password(password)
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(users.c.password_hash)
                                      .where(users.c.id == session.user.id))).first()
        if row is None:
            raise KeyError(session.user.id)
        if await self._verify(row[0].encode(), password):
            raise ValueError("choose a password other than the one you were given")
        password_hash = await self._hash(password)
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(users).where(users.c.id == session.user.id)
                               .values(password_hash=password_hash, password_once=False))
            await conn.execute(sa.delete(sessions).where(sessions.c.user_id == session.user.id,
                                                         sessions.c.key != session.ref))

    async def open_session(self, name: str, now: float) -> Session:
        """Sign ``name`` in without credentials, for tools and tests: the console itself
        opens sessions only through :meth:`login`."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(users).where(users.c.name == name))).first()
            if row is None:
                raise KeyError(name)
            return await self._open(conn, User(row.id, row.name, row.pseudonym, row.role,
                                               row.language), now)

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
                          users.c.language, users.c.disabled, users.c.password_once)
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
        return Session(token, User(row.user_id, row.name, row.pseudonym, row.role, row.language),
                       row.csrf,
                       row.created, row.password_once)

    async def live_sessions(self, refs: Collection[str], now: float) -> dict[str, LiveSession]:
        """Of the sessions stored under ``refs`` (:attr:`Session.ref`), those still good (not
        ended, not idle longer than ``SESSION_IDLE_S``, younger than ``SESSION_MAX_S``, the
        account enabled), by ref. Socket tokens are checked against it."""
        live: dict[str, LiveSession] = {}
        wanted = sorted(set(refs))
        async with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                rows = await conn.execute(
                    sa.select(sessions.c.key, sessions.c.user_id, sessions.c.last_seen)
                    .join(users, users.c.id == sessions.c.user_id)
                    .where(sessions.c.key.in_(wanted[start:start + 500]),
                           users.c.disabled.is_(False),
                           sessions.c.last_seen >= now - SESSION_IDLE_S,
                           sessions.c.created >= now - SESSION_MAX_S))
                live.update((r.key, LiveSession(r.user_id, r.last_seen)) for r in rows)
        return live

    async def signed_in(self, user_id: str, now: float) -> bool:
        """True if the account is enabled and has a console session that is still good."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(sessions.c.key).join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.user_id == user_id, users.c.disabled.is_(False),
                       sessions.c.last_seen >= now - SESSION_IDLE_S,
                       sessions.c.created >= now - SESSION_MAX_S).limit(1))).first()
        return row is not None

    async def touch_sessions(self, live: dict[str, LiveSession], now: float) -> None:
        """Note that these sessions are in use (an open socket is), at most once every
        ``TOUCH_S``, so an open console does not go idle; one that has gone idle stays so."""
        wanted = sorted(ref for ref, s in live.items() if s.last_seen < now - TOUCH_S)
        if not wanted:
            return  # no write at all: the database may be locked by someone else just now
        async with self.engine.begin() as conn:
            for start in range(0, len(wanted), 500):
                await conn.execute(
                    sa.update(sessions)
                    .where(sessions.c.key.in_(wanted[start:start + 500]),
                           sessions.c.last_seen >= now - SESSION_IDLE_S)
                    .values(last_seen=now))

    async def logout(self, token: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(sessions).where(sessions.c.key == _key(token)))

    async def set_language(self, user_id: str, language: Lang) -> None:
        """Remember the language the console speaks to this account."""
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(users).where(users.c.id == user_id)
                               .values(language=language.value))

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

    async def certificates(self) -> list[str]:
        """The certificates installed for enabled accounts that chat, as installed (JSON)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(users.c.certificate)
                .where(users.c.disabled.is_(False), users.c.certificate.is_not(None),
                       users.c.role.in_(sorted(COUNSELLOR_ROLES))))
            return [str(row[0]) for row in rows if row[0]]

    async def key_wraps(self, user_id: str) -> list[dict[str, str]]:
        """The account's key wraps (opaque to us), oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(key_wraps.c.id, key_wraps.c.blob)
                                      .where(key_wraps.c.user_id == user_id)
                                      .order_by(key_wraps.c.created, key_wraps.c.id))
            return [{"id": r.id, "blob": r.blob} for r in rows]

    async def add_key_wrap(self, user_id: str, wrap_id: str, blob: str) -> None:
        """Add a key wrap. Never replaces one: a taken id (or one too many) raises
        :class:`KeyWrapRefused`, so no console can overwrite keys another one made."""
        async with self.engine.begin() as conn:
            count = (await conn.execute(sa.select(sa.func.count()).select_from(key_wraps)
                                        .where(key_wraps.c.user_id == user_id))).scalar_one()
            if count >= MAX_KEY_WRAPS:
                raise KeyWrapRefused("too many key wraps for this account")
            taken = (await conn.execute(sa.select(key_wraps.c.id).where(
                key_wraps.c.user_id == user_id, key_wraps.c.id == wrap_id))).first()
            if taken is not None:
                raise KeyWrapRefused("this key wrap exists and is never replaced")
            await conn.execute(sa.insert(key_wraps).values(user_id=user_id, id=wrap_id,
                                                           blob=blob, created=time.time()))

    async def keys_blob(self, user_id: str) -> str:
        """The account's key material wrapped under its sign-in password before revision
        0007 (read only), or "" if there is none."""
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

    async def update_canned(self, reply_id: str, title: str, body: str) -> bool:
        """Change a canned reply's title and text; False if there is no such reply."""
        async with self.engine.begin() as conn:
            done = await conn.execute(sa.update(canned).where(canned.c.id == reply_id)
                                      .values(title=title, body=body))
            return bool(done.rowcount)

    async def delete_canned(self, reply_id: str) -> bool:
        """Delete a canned reply; False if there is no such reply."""
        async with self.engine.begin() as conn:
            done = await conn.execute(sa.delete(canned).where(canned.c.id == reply_id))
            return bool(done.rowcount)


    async def settings(self, user_id: str) -> CounsellorSettings:
        """The account's notification settings (every one off if it never chose)."""
        columns = [counsellor_settings.c[name] for name in asdict(CounsellorSettings())]
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(*columns).where(
                counsellor_settings.c.user_id == user_id))).first()
        return CounsellorSettings() if row is None else CounsellorSettings(**row._mapping)

    async def set_settings(self, user_id: str, chosen: CounsellorSettings) -> None:
        """Keep the account's notification settings, replacing what it chose before."""
        values = {**asdict(chosen), "updated": time.time()}
        where = counsellor_settings.c.user_id == user_id
        async with self.engine.begin() as conn:
            done = await conn.execute(sa.update(counsellor_settings).where(where).values(values))
            if done.rowcount:
                return
        try:
            async with self.engine.begin() as conn:
                await conn.execute(sa.insert(counsellor_settings).values(user_id=user_id,
                                                                         **values))
        except sa.exc.IntegrityError:
            # Another request of the same account made the row meanwhile: this one is later.
            async with self.engine.begin() as conn:
                await conn.execute(sa.update(counsellor_settings).where(where).values(values))


# -- the `chatserver user` command ------------------------------------------------------
