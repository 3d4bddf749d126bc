"""Case records and anonymous message drops: ciphertext in the database, never plaintext.

A record is encrypted in the counsellor's browser under a fresh record key, which is sealed to
the team's records public key (see ``docs/protocol.md``); the server stores the ciphertext, the
sealed key and minimal metadata (id, created, retention date, owner: the counsellor who filed
it at hand-off). A record can only be created for a live chat of the calling counsellor whose
visitor said yes to the current consent text. Visitors find their record or drop again only
through a codename, kept as a slow hash.

Who may do what (``docs/protocol.md``, "Who may do what with a record"): listing, opening,
exporting, annotating and appending a chat's later lines need a grant of the team's records
key; deleting and restoring need a grant and being the record's owner or an administrator.
Their deletion is soft: the record is hidden and can be restored for ``recovery_s`` seconds,
then the hourly purge deletes it. The visitor's own withdrawal deletes at once and for good.
Every access, allowed or refused, and every grant is written to an audit trail of account ids,
actions and times: never content, never anything of the visitor.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatserver.crypto import b64decode
from chatserver.errors import DomainError, ErrorCode
from chatserver.records.codenames import CodenameHasher, generate
from chatserver.records.schema import (
    drops,
    key_grants,
    record_audit,
    record_entries,
    record_notes,
    records,
    records_epochs,
    settings,
    team_keys,
    users,
)
from chatserver.vocabulary import Role

# Box keys one account may have registered (devices and browsers), so that a console
# cannot fill the table; an administrator's reset clears them.
MAX_BOX_KEYS = 20

# Who the audit trail names when no console account acts: the visitor withdrawing by codename
# (nothing that identifies them), the hourly purge, and a command run on the server.
VISITOR = "visitor"
SYSTEM = "system"
OPERATOR = "operator"

NO_RECORD = "No such record."
ROTATED = "The records key was rotated meanwhile: reload the console."


@dataclass(frozen=True)
class RecordMeta:
    """What may be shown about a record without opening it."""

    id: str
    created: float
    retain_until: float
    counsellor_id: str


@dataclass(frozen=True)
class DeletedRecord:
    """A record its owner or an administrator deleted: restorable until ``purge_at``."""

    id: str
    created: float
    counsellor_id: str
    deleted_at: float
    purge_at: float


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail: who did (or tried) what to which record or grant, when."""

    id: int
    at: float
    user_id: str
    action: str
    record_id: str | None
    subject_id: str | None
    refused: bool


def _new_id() -> str:
    return secrets.token_urlsafe(12)


def no_grant() -> DomainError:
    """The refusal of a records access without a grant of the records key."""
    return DomainError(ErrorCode.NO_GRANT,
                       "You hold no grant of the team's records key: ask a colleague who holds "
                       "it to grant it to you.")


async def _audit(conn: AsyncConnection, user_id: str, action: str, now: float,
                 record_id: str | None = None, subject_id: str | None = None,
                 refused: bool = False) -> None:
    await conn.execute(sa.insert(record_audit).values(
        record_id=record_id, user_id=user_id, action=action, at=now, subject_id=subject_id,
        refused=refused))


@dataclass(frozen=True)
class _Rights:
    granted: bool
    admin: bool


async def _rights(conn: AsyncConnection, user_id: str) -> _Rights:
    """What ``user_id`` may do with records now: an enabled account, holding a grant or not."""
    row = (await conn.execute(
        sa.select(users.c.role)
        .where(users.c.id == user_id, users.c.disabled.is_(False)))).first()
    if row is None:
        return _Rights(granted=False, admin=False)
    return _Rights(granted=await _granted(conn, user_id), admin=row.role == Role.ADMIN)


class _Refusal(Exception):
    """Raised inside :meth:`RecordStore._access`: roll back, audit the refusal, answer ``error``."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.code.value)
        self.error = error


async def _erase(conn: AsyncConnection, record_id: str) -> None:
    await conn.execute(sa.delete(record_entries).where(record_entries.c.record_id == record_id))
    await conn.execute(sa.delete(record_notes).where(record_notes.c.record_id == record_id))
    await conn.execute(sa.delete(records).where(records.c.id == record_id))


async def codename_salt(engine: AsyncEngine) -> bytes:
    """This installation's salt for codename hashes, created on first use."""
    query = sa.select(settings.c.value).where(settings.c.name == "codename_salt")
    async with engine.begin() as conn:
        row = (await conn.execute(query)).first()
        if row is not None:
            return bytes.fromhex(row[0])
    salt = os.urandom(16)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(settings).values(name="codename_salt",
                                                          value=salt.hex()))
        return salt
    except sa.exc.IntegrityError:
        # Another node starting at the same moment won; use its salt.
        async with engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise
        return bytes.fromhex(row[0])


class RecordStore:
    """Create, read, annotate, delete, restore and expire records and drops; audit every access."""

    def __init__(self, engine: AsyncEngine, hasher: CodenameHasher, retention_s: float,
                 drop_ttl_s: float, recovery_s: float = 30 * 86400.0,
                 certify_records: Certifier | None = None) -> None:
        self.engine = engine
        self.hasher = hasher
        self.retention_s = retention_s
        self.drop_ttl_s = drop_ttl_s
        self.recovery_s = recovery_s
        self.keyring = Keyring(engine, certify_records)

    @contextlib.asynccontextmanager
    async def _access(self, user_id: str, action: str, now: float,
                      record_id: str | None = None
                      ) -> AsyncIterator[tuple[AsyncConnection, _Rights]]:
        """One transaction for one access by ``user_id``, refused ``no_grant`` without a grant.

        A :class:`_Refusal` raised inside rolls the transaction back; the refused attempt is
        then written to the audit trail on its own, so that it stays when the access does not.
        """
        try:
            async with self.engine.begin() as conn:
                rights = await _rights(conn, user_id)
                if not rights.granted:
                    raise _Refusal(no_grant())
                yield conn, rights
        except _Refusal as refusal:
            async with self.engine.begin() as conn:
                await _audit(conn, user_id, action, now, record_id=record_id, refused=True)
            raise refusal.error from None

    async def create(self, counsellor_id: str, consent_version: str, sealed_key: str,
                     body: str, now: float, lang: str = "de", reader_pk: str | None = None,
                     reader_body: str | None = None) -> tuple[str, str]:
        """Store a new record durably, owned by ``counsellor_id``; returns its id and the
        visitor's codename. Filing needs no grant: the record is sealed to the public key.
        ``reader_pk`` and ``reader_body``: the visitor's key and their copy, if they have one."""
        codename = generate(lang)
        key = await self.hasher.key(codename)
        record_id = _new_id()
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(records).values(
                id=record_id, created=now, retain_until=now + self.retention_s,
                counsellor_id=counsellor_id, consent_version=consent_version,
                codename_key=key, sealed_key=sealed_key, body=body, reader_pk=reader_pk,
                reader_body=reader_body))
            await _audit(conn, counsellor_id, "create", now, record_id=record_id)
        return record_id, codename

    async def list_records(self, user_id: str, now: float) -> list[RecordMeta]:
        """The team's records that are not deleted, newest first (metadata only)."""
        async with self._access(user_id, "list", now) as (conn, _):
            rows = await conn.execute(
                sa.select(records.c.id, records.c.created, records.c.retain_until,
                          records.c.counsellor_id)
                .where(records.c.deleted_at.is_(None)).order_by(records.c.created.desc()))
            found = [RecordMeta(*row) for row in rows]
            await _audit(conn, user_id, "list", now)
        return found

    async def count_records(self, user_id: str) -> int:
        """How many records the team keeps (not deleted): the records view's count.

        Refused ``no_grant`` like a listing, but neither audited nor revealing any record: it is
        asked at every console start, and a number of records names no one."""
        async with self.engine.connect() as conn:
            if not (await _rights(conn, user_id)).granted:
                raise no_grant()
            return int((await conn.execute(
                sa.select(sa.func.count()).select_from(records)
                .where(records.c.deleted_at.is_(None)))).scalar_one())

    async def list_deleted(self, user_id: str, now: float) -> list[DeletedRecord]:
        """The deleted records ``user_id`` may restore (their own; an administrator: all)."""
        async with self._access(user_id, "list_deleted", now) as (conn, rights):
            query = (sa.select(records.c.id, records.c.created, records.c.counsellor_id,
                               records.c.deleted_at)
                     .where(records.c.deleted_at.is_not(None))
                     .order_by(records.c.deleted_at.desc()))
            if not rights.admin:
                query = query.where(records.c.counsellor_id == user_id)
            found = [DeletedRecord(r.id, r.created, r.counsellor_id, r.deleted_at,
                                   r.deleted_at + self.recovery_s)
                     for r in await conn.execute(query)]
            await _audit(conn, user_id, "list_deleted", now)
        return found

    async def open(self, record_id: str, user_id: str, now: float,
                   action: str = "open") -> dict[str, Any]:
        """The record's ciphertext and notes; the opening (or export) is audited."""
        async with self._access(user_id, action, now, record_id) as (conn, _):
            row = (await conn.execute(sa.select(records).where(
                records.c.id == record_id, records.c.deleted_at.is_(None)))).first()
            if row is None:
                raise DomainError(ErrorCode.NOT_FOUND, NO_RECORD)
            notes = await conn.execute(
                sa.select(record_notes.c.id, record_notes.c.created, record_notes.c.author_id,
                          record_notes.c.body)
                .where(record_notes.c.record_id == record_id)
                .order_by(record_notes.c.created))
            entries = await conn.execute(
                sa.select(record_entries.c.id, record_entries.c.created,
                          record_entries.c.author_id, record_entries.c.body)
                .where(record_entries.c.record_id == record_id)
                .order_by(record_entries.c.id))
            await _audit(conn, user_id, action, now, record_id=record_id)
            return {
                "record_id": row.id,
                "created": row.created,
                "retain_until": row.retain_until,
                "counsellor_id": row.counsellor_id,
                "consent_version": row.consent_version,
                "sealed_key": row.sealed_key,
                "body": row.body,
                "notes": [{"id": n.id, "created": n.created, "author_id": n.author_id,
                           "body": n.body} for n in notes],
                "entries": [{"id": e.id, "created": e.created, "author_id": e.author_id,
                             "body": e.body} for e in entries],
            }

    async def add_note(self, record_id: str, user_id: str, body: str, now: float) -> str:
        """Append an encrypted note (sealed under the record key by the console)."""
        note_id = _new_id()
        async with self._access(user_id, "note", now, record_id) as (conn, _):
            exists = (await conn.execute(sa.select(records.c.id).where(
                records.c.id == record_id, records.c.deleted_at.is_(None)))).first()
            if exists is None:
                raise DomainError(ErrorCode.NOT_FOUND, NO_RECORD)
            await conn.execute(sa.insert(record_notes).values(
                id=note_id, record_id=record_id, created=now, author_id=user_id, body=body))
            await _audit(conn, user_id, "note", now, record_id=record_id)
        return note_id

    async def append(self, record_id: str, user_id: str, body: str, now: float,
                     reader_body: str | None = None, consent_version: str | None = None
                     ) -> int:
        """Add what a chat linked to the record said after the hand-off: one entry sealed to
        the records key by the console, append-only (docs/protocol.md, "Continuity"). Needs a
        grant, as notes do; a deleted or withdrawn record takes nothing, nor does one whose
        visitor agreed to another consent text than ``consent_version`` (the one that promises
        continuity; None: any). ``reader_body`` is the visitor's copy, sealed to the record's
        reader key (refused for a record without one)."""
        async with self._access(user_id, "append", now, record_id) as (conn, _):
            exists = (await conn.execute(
                sa.select(records.c.reader_pk, records.c.consent_version).where(
                    records.c.id == record_id, records.c.deleted_at.is_(None)))).first()
            if exists is None:
                raise DomainError(ErrorCode.NOT_FOUND, NO_RECORD)
            if consent_version is not None and exists.consent_version != consent_version:
                raise DomainError(ErrorCode.NO_CONSENT,
                                  "The visitor's consent for this record does not cover "
                                  "later lines.")
            if reader_body is not None and not exists.reader_pk:
                raise DomainError(ErrorCode.BAD_STATE, "This record has no reader key.")
            done = await conn.execute(sa.insert(record_entries).values(
                record_id=record_id, created=now, author_id=user_id, body=body,
                reader_body=reader_body)
                .returning(record_entries.c.id))
            entry_id = int(done.scalar_one())
            await _audit(conn, user_id, "append", now, record_id=record_id)
            return entry_id

    @staticmethod
    def _check_owner(row: Any, user_id: str, rights: _Rights, doing: str) -> None:
        if row.counsellor_id != user_id and not rights.admin:
            raise _Refusal(DomainError(
                ErrorCode.FORBIDDEN,
                f"Only the counsellor who filed this record, or an administrator, may {doing} "
                "it."))

    async def delete(self, record_id: str, user_id: str, now: float) -> float:
        """Delete a record as its owner or an administrator: hidden at once, restorable until
        the time returned, purged after it."""
        async with self._access(user_id, "delete", now, record_id) as (conn, rights):
            row = (await conn.execute(sa.select(records.c.counsellor_id).where(
                records.c.id == record_id, records.c.deleted_at.is_(None)))).first()
            if row is None:
                raise DomainError(ErrorCode.NOT_FOUND, NO_RECORD)
            self._check_owner(row, user_id, rights, "delete")
            await conn.execute(sa.update(records).where(records.c.id == record_id)
                               .values(deleted_at=now))
            await _audit(conn, user_id, "delete", now, record_id=record_id)
        return now + self.recovery_s

    async def restore(self, record_id: str, user_id: str, now: float) -> None:
        """Bring back a deleted record within its recovery window (owner or administrator)."""
        async with self._access(user_id, "restore", now, record_id) as (conn, rights):
            row = (await conn.execute(
                sa.select(records.c.counsellor_id, records.c.deleted_at).where(
                    records.c.id == record_id, records.c.deleted_at.is_not(None)))).first()
            if row is None or row.deleted_at + self.recovery_s <= now:
                raise DomainError(ErrorCode.NOT_FOUND,
                                  "No deleted record to restore: it is not deleted, or its "
                                  "recovery window is over.")
            self._check_owner(row, user_id, rights, "restore")
            await conn.execute(sa.update(records).where(records.c.id == record_id)
                               .values(deleted_at=None))
            await _audit(conn, user_id, "restore", now, record_id=record_id)

    async def reader_pk(self, record_id: str, user_id: str, now: float) -> str:
        """The visitor's reader key of a record ("" if it has none), for a console that seals
        their copy of the later lines; needs a grant, audited like an opening."""
        async with self._access(user_id, "reader", now, record_id) as (conn, _):
            row = (await conn.execute(sa.select(records.c.reader_pk).where(
                records.c.id == record_id, records.c.deleted_at.is_(None)))).first()
            if row is None:
                raise DomainError(ErrorCode.NOT_FOUND, NO_RECORD)
            await _audit(conn, user_id, "reader", now, record_id=record_id)
            return str(row.reader_pk or "")

    async def read(self, codename: str, now: float) -> dict[str, Any] | None:
        """What the visitor holding ``codename`` may read of their record: their own copies
        (sealed to their reader key, which the server cannot open), nothing else. Audited as
        done by the visitor; None for an unknown, deleted or withdrawn record."""
        key = await self.hasher.key(codename)
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                sa.select(records.c.id, records.c.created, records.c.retain_until,
                          records.c.reader_body)
                .where(records.c.codename_key == key, records.c.deleted_at.is_(None)))).first()
            if row is None:
                return None
            entries = await conn.execute(
                sa.select(record_entries.c.created, record_entries.c.reader_body)
                .where(record_entries.c.record_id == row.id,
                       record_entries.c.reader_body.is_not(None))
                .order_by(record_entries.c.id))
            await _audit(conn, VISITOR, "read", now, record_id=row.id)
            return {"created": row.created, "retain_until": row.retain_until,
                    "body": row.reader_body or "",
                    "entries": [{"created": e.created, "body": e.reader_body} for e in entries]}

    async def find(self, codename: str) -> RecordMeta | None:
        """The record a codename belongs to, if any and not deleted."""
        key = await self.hasher.key(codename)
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(records.c.id, records.c.created, records.c.retain_until,
                          records.c.counsellor_id)
                .where(records.c.codename_key == key, records.c.deleted_at.is_(None)))).first()
            return RecordMeta(*row) if row else None

    async def withdraw(self, codename: str, now: float) -> bool:
        """The visitor withdraws consent: their record, its notes and entries are deleted at
        once and for good, also one that is deleted and waiting out its recovery window."""
        key = await self.hasher.key(codename)
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                sa.select(records.c.id).where(records.c.codename_key == key))).first()
            if row is None:
                return False
            await _erase(conn, row.id)
            await _audit(conn, VISITOR, "withdraw", now, record_id=row.id)
        return True

    async def audit_trail(self, record_id: str) -> list[dict[str, Any]]:
        """Who did (or tried) what to one record, when (ids and times only)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(record_audit.c.user_id, record_audit.c.action, record_audit.c.at,
                          record_audit.c.refused)
                .where(record_audit.c.record_id == record_id).order_by(record_audit.c.id))
            return [{"user_id": r.user_id, "action": r.action, "at": r.at,
                     "refused": bool(r.refused)} for r in rows]

    async def audit_log(self, limit: int = 200, before: int | None = None) -> list[AuditEntry]:
        """The newest ``limit`` entries of the whole trail (older than entry ``before``)."""
        query = sa.select(record_audit).order_by(record_audit.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(record_audit.c.id < before)
        async with self.engine.connect() as conn:
            return [AuditEntry(r.id, r.at, r.user_id, r.action, r.record_id, r.subject_id,
                               bool(r.refused)) for r in await conn.execute(query)]

    async def purge(self, now: float) -> int:
        """Delete for good the records past their retention date, those deleted longer than
        the recovery window ago, and expired drops."""
        async with self.engine.begin() as conn:
            expired = [r[0] for r in await conn.execute(
                sa.select(records.c.id).where(records.c.retain_until < now))]
            binned = [r[0] for r in await conn.execute(
                sa.select(records.c.id).where(records.c.retain_until >= now,
                                              records.c.deleted_at <= now - self.recovery_s))]
            for record_id in expired:
                await _erase(conn, record_id)
                await _audit(conn, SYSTEM, "expire", now, record_id=record_id)
            for record_id in binned:
                await _erase(conn, record_id)
                await _audit(conn, SYSTEM, "purge", now, record_id=record_id)
            gone = await conn.execute(sa.delete(drops).where(drops.c.expires < now))
            return len(expired) + len(binned) + int(gone.rowcount or 0)

    # -- anonymous message drops ------------------------------------------------------

    async def has_grant(self, user_id: str) -> bool:
        """True if ``user_id`` is an enabled account holding a grant of the records key."""
        async with self.engine.connect() as conn:
            return await _granted(conn, user_id)

    async def create_drop(self, lookup: str, sealed_key: str, body: str, reply_pk: str,
                          now: float, round_no: int = 1) -> str:
        """Store a visitor's sealed message under the lookup value their widget derived from
        its drop code (the code itself never reaches us): round 1 starts a thread; a later
        round only once the round before it is answered, with the thread's reply key. Every
        message moves the whole thread's expiry to ``drop_ttl_s`` from now."""
        drop_id = _new_id()
        try:
            async with self.engine.begin() as conn:
                if round_no > 1:
                    last = (await conn.execute(
                        sa.select(drops.c.round, drops.c.answered_at, drops.c.reply_pk)
                        .where(drops.c.lookup == lookup)
                        .order_by(drops.c.round.desc()).limit(1))).first()
                    if last is None:
                        raise DomainError(ErrorCode.NOT_FOUND,
                                          "No message under this code (or it expired).")
                    if last.round + 1 != round_no or last.reply_pk != reply_pk:
                        raise DomainError(ErrorCode.CONFLICT,
                                          "This is not the next message of this thread.")
                    if last.answered_at is None:
                        raise DomainError(ErrorCode.CONFLICT,
                                          "The last message has not been answered yet.")
                await conn.execute(sa.insert(drops).values(
                    id=drop_id, created=now, expires=now + self.drop_ttl_s, lookup=lookup,
                    sealed_key=sealed_key, body=body, reply_pk=reply_pk, round=round_no))
                await self._touch(conn, lookup, now)
        except sa.exc.IntegrityError:
            raise DomainError(ErrorCode.CONFLICT,
                              "A message under this code exists already.") from None
        return drop_id

    async def _touch(self, conn: AsyncConnection, lookup: str, now: float) -> None:
        """The thread of ``lookup`` had activity: it expires ``drop_ttl_s`` from now."""
        await conn.execute(sa.update(drops).where(drops.c.lookup == lookup)
                           .values(expires=now + self.drop_ttl_s))

    async def list_drops(self) -> list[dict[str, Any]]:
        """Every thread (metadata only), oldest first: its first round's id, when it began and
        last changed, how many rounds, whether its last round is answered and whether it
        awaits an answer; ``legacy`` ones were left before answers were signed."""
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(
                sa.select(drops.c.id, drops.c.created, drops.c.expires, drops.c.answered_at,
                          drops.c.lookup, drops.c.round).order_by(drops.c.created, drops.c.round)))
        threads: dict[str, list[Any]] = {}
        for r in rows:
            threads.setdefault(r.lookup or "legacy:" + r.id, []).append(r)
        items = []
        for rounds in threads.values():
            first, last = rounds[0], max(rounds, key=lambda r: r.round)
            answered = last.answered_at is not None
            items.append({
                "drop_id": first.id, "created": first.created, "expires": last.expires,
                "last": max(last.created, last.answered_at or 0.0), "rounds": len(rounds),
                "answered": answered, "awaiting": not answered and last.lookup is not None,
                "legacy": last.lookup is None})
        return items

    async def waiting_drops(self) -> int:
        """How many threads await an answer (only a thread's last round can)."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(
                sa.select(sa.func.count()).select_from(drops)
                .where(drops.c.answered_at.is_(None), drops.c.lookup.is_not(None)))).scalar_one())

    async def open_drop(self, drop_id: str) -> dict[str, Any]:
        """The thread of the round ``drop_id``, for a counsellor: every round oldest first
        (ciphertext, its answer and the team's copy of it), and at the top the last round,
        the one an answer goes to, with the lookup value an answer is signed for."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(drops).where(drops.c.id == drop_id))).first()
            if row is None:
                raise DomainError(ErrorCode.NOT_FOUND, "No such message.")
            rounds = [row] if row.lookup is None else list(await conn.execute(
                sa.select(drops).where(drops.c.lookup == row.lookup).order_by(drops.c.round)))
        last = rounds[-1]
        return {"drop_id": last.id, "created": last.created, "sealed_key": last.sealed_key,
                "body": last.body, "reply_pk": last.reply_pk, "lookup": last.lookup or "",
                "round": last.round, "answered": last.answered_at is not None,
                "answer": _answer(last), "expires": last.expires,
                "rounds": [{"drop_id": r.id, "round": r.round, "created": r.created,
                            "sealed_key": r.sealed_key, "body": r.body,
                            "answered_at": r.answered_at, "answer": _answer(r),
                            "team": r.answer_team} for r in rounds]}

    async def holds_grant(self, user_id: str) -> bool:
        """True if ``user_id`` is an enabled account holding a grant of the records key."""
        async with self.engine.connect() as conn:
            return await _granted(conn, user_id)

    async def answer_drop(self, drop_id: str, user_id: str, answer: dict[str, Any],
                          now: float) -> None:
        """Store the signed answer ``{sealed, certificate, sig}`` (sealed by the console to the
        visitor's reply key, with ``team``, a copy sealed to the records key) to one round:
        once, and only by a counsellor who holds a grant. The thread expires anew."""
        async with self.engine.begin() as conn:
            if not await _granted(conn, user_id):
                raise DomainError(ErrorCode.NO_GRANT,
                                  "Only a counsellor holding the records key may answer.")
            row = (await conn.execute(sa.select(drops.c.lookup, drops.c.answered_at)
                                      .where(drops.c.id == drop_id))).first()
            if row is None:
                raise DomainError(ErrorCode.NOT_FOUND, "No such message.")
            if row.lookup is None:
                raise DomainError(ErrorCode.BAD_STATE,
                                  "This message was left before answers were signed; its "
                                  "writer could not tell an answer from a forgery.")
            done = await conn.execute(
                sa.update(drops).where(drops.c.id == drop_id, drops.c.answered_at.is_(None))
                .values(answer=answer["sealed"], answer_sig=answer["sig"],
                        answer_certificate=json.dumps(answer["certificate"], sort_keys=True,
                                                      separators=(",", ":")),
                        answer_team=answer.get("team"), answered_by=user_id, answered_at=now))
            if not done.rowcount:
                raise DomainError(ErrorCode.CONFLICT, "This message has been answered already.")
            await self._touch(conn, row.lookup, now)

    async def read_drop(self, lookup: str) -> dict[str, Any] | None:
        """What a visitor holding the drop's code may see: for each round, oldest first,
        whether it is answered and the signed answer (which their widget verifies before it
        shows anything); ``answered`` and ``answer`` of the last round on top."""
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(
                sa.select(drops).where(drops.c.lookup == lookup).order_by(drops.c.round)))
        if not rows:
            return None
        last = rows[-1]
        return {"answered": last.answered_at is not None, "answer": _answer(last),
                "expires": last.expires,
                "rounds": [{"round": r.round, "answered": r.answered_at is not None,
                            "answer": _answer(r)} for r in rows]}


def _answer(row: Any) -> dict[str, Any] | None:
    """A drop row's signed answer as the widget gets it (an old unsigned one without
    certificate and signature: the widget refuses it)."""
    if row.answer is None:
        return None
    return {"sealed": row.answer, "sig": row.answer_sig or "",
            "certificate": json.loads(row.answer_certificate) if row.answer_certificate
            else None}


async def _granted(conn: AsyncConnection, user_id: str) -> bool:
    """True if ``user_id`` is an enabled account whose grant of the records key is sealed."""
    """(On any of their box keys.)"""
    row = (await conn.execute(
        sa.select(key_grants.c.user_id)
        .join(users, users.c.id == key_grants.c.user_id)
        .where(key_grants.c.user_id == user_id, users.c.disabled.is_(False),
               key_grants.c.sealed_records_sk.is_not(None)).limit(1))).first()
    return row is not None


async def _enabled(conn: AsyncConnection, user_id: str) -> bool:
    """True if ``user_id`` is a console account that is not disabled."""
    row = (await conn.execute(sa.select(users.c.disabled).where(users.c.id == user_id))).first()
    return row is not None and not row[0]


# Demo mode only: certifies a new records public key at once with the demo organisation key.
Certifier = Callable[[bytes], dict[str, Any]]


def _json(text: str | None) -> Any:
    """A stored certificate as JSON, or None (clients verify it; a damaged one is no
    certificate at all)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


class Keyring:
    """The records key's public half with its certificate, and the per-counsellor grants (all
    opaque to us: the consoles and the widget verify, the server only keeps)."""

    def __init__(self, engine: AsyncEngine, certify: Certifier | None = None) -> None:
        self.engine = engine
        self.certify = certify

    async def records_key(self) -> tuple[str, Any]:
        """The records public key (or "") and its certificate as stored (or None)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(team_keys.c.public_key, team_keys.c.certificate)
                                      .where(team_keys.c.name == "records"))).first()
        return (str(row[0]), _json(row[1])) if row else ("", None)

    async def records_public_key(self) -> str:
        return (await self.records_key())[0]

    async def status(self, user_id: str, box_pk: str | None = None) -> dict[str, Any]:
        """What a counsellor's console needs: the public key and its certificate, the grant
        to the box key it asks about (``box_pk``; without, the latest registered), every box
        key waiting with its proof of identity (never of a disabled account)."""
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(
                sa.select(key_grants, users.c.pseudonym)
                .join(users, users.c.id == key_grants.c.user_id)
                .where(users.c.disabled.is_(False))
                .order_by(key_grants.c.registered.desc())))
        mine = next((r for r in rows if r.user_id == user_id
                     and (box_pk is None or r.box_pk == box_pk)), None)
        records_pk, certificate = await self.records_key()
        epochs = await self.epochs()
        recovery_pk, recovery_cert = await self.recovery_key()

        def proof(r: Any) -> dict[str, Any]:
            return {"user_id": r.user_id, "pseudonym": r.pseudonym, "box_pk": r.box_pk,
                    "box_sig": r.box_sig or "", "certificate": _json(r.certificate)}

        return {
            "records_pk": records_pk,
            "records_cert": certificate,
            "epoch": epochs[-1]["epoch"] if epochs else 0,
            "epochs": [{k: e[k] for k in ("epoch", "public_key", "certificate", "link",
                                          "recovery_pk")} for e in epochs],
            "recovery": ({"recovery_pk": recovery_pk, "certificate": recovery_cert}
                         if recovery_pk else None),
            "me": None if mine is None else {"box_pk": mine.box_pk,
                                             "sealed": mine.sealed_records_sk or ""},
            "pending": [proof(r) for r in rows if r.sealed_records_sk is None],
            # Every box key of an enabled account: a rotation seals the new epoch to each one
            # whose proof the rotating console verifies.
            "members": [{**proof(r), "granted": r.sealed_records_sk is not None} for r in rows],
        }

    async def epochs(self) -> list[dict[str, Any]]:
        """Every epoch of the records key, oldest first (the last is the one sealed to):
        ``epoch``, ``public_key``, ``certificate``, ``link``, ``recovery_pk`` and
        ``sealed_recovery``; empty before the team has a records key."""
        async with self.engine.connect() as conn:
            retired = list(await conn.execute(
                sa.select(records_epochs).order_by(records_epochs.c.epoch)))
            current = (await conn.execute(
                sa.select(team_keys).where(team_keys.c.name == "records"))).first()
        rows = [*retired, *([current] if current is not None else [])]
        return [{"epoch": r.epoch, "public_key": r.public_key,
                 "certificate": _json(r.certificate), "link": r.link or None,
                 "recovery_pk": r.recovery_pk or None,
                 "sealed_recovery": r.sealed_recovery or None} for r in rows]

    async def recovery_key(self) -> tuple[str, Any]:
        """The recovery public key (or "") and the organisation's certificate of it."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(team_keys.c.public_key, team_keys.c.certificate)
                                      .where(team_keys.c.name == "recovery"))).first()
        return (str(row[0]), _json(row[1])) if row else ("", None)

    async def set_recovery_key(self, recovery_pk: str, certificate: dict[str, Any],
                               now: float) -> None:
        """Install the recovery public key with its certificate (checked by the caller and by
        every console before it seals to it); a new one replaces the old for what comes."""
        if certificate.get("recovery_pk") != recovery_pk:
            raise DomainError(ErrorCode.CONFLICT, "The certificate is for another recovery key.")
        async with self.engine.begin() as conn:
            done = await conn.execute(sa.update(team_keys).where(team_keys.c.name == "recovery")
                                      .values(public_key=recovery_pk, created=now,
                                              certificate=_dumps(certificate)))
            if not done.rowcount:
                await conn.execute(sa.insert(team_keys).values(
                    name="recovery", public_key=recovery_pk, created=now,
                    certificate=_dumps(certificate)))

    async def rotate(self, user_id: str, epoch: int, records_pk: str, link: str,
                     grants: list[tuple[str, str, str]], now: float,
                     recovery: tuple[str, str] | None = None) -> None:
        """Make ``records_pk`` the newest epoch (number ``epoch``, the next one) in one step:
        the current one is retired as it is, ``link`` seals its secret to the new key, and
        every box key gets the grant in ``grants`` (``(user_id, box_pk, sealed)``) or none
        (it waits for one). Only an administrator holding a grant rotates, and only with a
        grant for themselves; everything sealed before stays as it is."""
        async with self.engine.begin() as conn:
            rights = await _rights(conn, user_id)
            if not (rights.granted and rights.admin):
                # Committed on its own: a try without the right is what the trail is for.
                await _audit(conn, user_id, "rotate", now, refused=True)
        if not (rights.granted and rights.admin):
            raise DomainError(ErrorCode.FORBIDDEN,
                              "Only an administrator who holds the records key rotates it.")
        try:
            await self._rotate(user_id, epoch, records_pk, link, grants, now, recovery)
        except sa.exc.IntegrityError:
            # Another rotation retired the same epoch first.
            raise DomainError(ErrorCode.CONFLICT, ROTATED) from None

    async def _rotate(self, user_id: str, epoch: int, records_pk: str, link: str,
                      grants: list[tuple[str, str, str]], now: float,
                      recovery: tuple[str, str] | None) -> None:
        async with self.engine.begin() as conn:
            # Again inside the transaction that rotates: the account may have lost its right
            # since the check above.
            rights = await _rights(conn, user_id)
            if not (rights.granted and rights.admin):
                raise DomainError(ErrorCode.FORBIDDEN,
                                  "Only an administrator who holds the records key rotates it.")
            current = (await conn.execute(
                sa.select(team_keys).where(team_keys.c.name == "records"))).first()
            if current is None:
                raise DomainError(ErrorCode.BAD_STATE, "The team has no records key yet.")
            if epoch != current.epoch + 1:
                raise DomainError(ErrorCode.CONFLICT, ROTATED)
            known = {(r.user_id, r.box_pk) for r in await conn.execute(
                sa.select(key_grants.c.user_id, key_grants.c.box_pk)
                .join(users, users.c.id == key_grants.c.user_id)
                .where(users.c.disabled.is_(False)))}
            sealed_for = {(u, b): sealed for u, b, sealed in grants}
            if any(k not in known for k in sealed_for):
                raise DomainError(ErrorCode.NOT_FOUND,
                                  "A grant names a box key that is not registered.")
            if not any(u == user_id for u, _ in sealed_for):
                raise DomainError(ErrorCode.BAD_STATE,
                                  "A rotation grants the new key to the one who rotates, too.")
            await conn.execute(sa.insert(records_epochs).values(
                epoch=current.epoch, public_key=current.public_key,
                certificate=current.certificate, created=current.created, retired=now,
                link=current.link, recovery_pk=current.recovery_pk,
                sealed_recovery=current.sealed_recovery))
            certificate = (_dumps(self.certify(b64decode(records_pk)))
                           if self.certify is not None else None)
            await conn.execute(sa.update(team_keys).where(team_keys.c.name == "records").values(
                public_key=records_pk, created=now, certificate=certificate, epoch=epoch,
                link=link, recovery_pk=recovery[0] if recovery else None,
                sealed_recovery=recovery[1] if recovery else None))
            # Every grant of the retired epoch goes: the new ones replace them, and a box key
            # the rotating console did not seal to waits for a grant like a new one.
            await conn.execute(sa.update(key_grants).values(
                sealed_records_sk=None, granted_by=None, granted_at=None))
            for (u, b), sealed in sealed_for.items():
                await conn.execute(sa.update(key_grants).where(
                    key_grants.c.user_id == u, key_grants.c.box_pk == b)
                    .values(sealed_records_sk=sealed, granted_by=user_id, granted_at=now))
            await _audit(conn, user_id, "rotate", now)
            for u in sorted({u for u, _ in sealed_for}):
                await _audit(conn, user_id, "grant", now, subject_id=u)

    async def seal_to_recovery(self, user_id: str, epoch: int, recovery_pk: str, sealed: str,
                               now: float) -> None:
        """Keep an epoch's secret sealed to the (certified) recovery key ``recovery_pk``,
        sent by a console that holds it; replaces a seal to an earlier recovery key."""
        async with self.engine.begin() as conn:
            if not await _granted(conn, user_id):
                raise no_grant()
            installed = (await conn.execute(sa.select(team_keys.c.public_key)
                                            .where(team_keys.c.name == "recovery"))).first()
            if installed is None or installed[0] != recovery_pk:
                raise DomainError(ErrorCode.CONFLICT, "That is not the team's recovery key.")
            values = {"recovery_pk": recovery_pk, "sealed_recovery": sealed}
            done = await conn.execute(sa.update(team_keys).where(
                team_keys.c.name == "records", team_keys.c.epoch == epoch).values(**values))
            if not done.rowcount:
                done = await conn.execute(sa.update(records_epochs).where(
                    records_epochs.c.epoch == epoch).values(**values))
            if not done.rowcount:
                raise DomainError(ErrorCode.NOT_FOUND, "No such epoch of the records key.")
            await _audit(conn, user_id, "recovery_seal", now)

    async def enabled_account(self, name: str) -> str | None:
        """The id of the enabled console account named ``name``, if there is one."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(users.c.id).where(
                users.c.name == name, users.c.disabled.is_(False)))).first()
        return None if row is None else str(row[0])

    async def recover(self, user_id: str, box_pk: str, sealed: str, now: float) -> None:
        """The operator's grant of the newest epoch, opened with the recovery secret outside
        the server's storage (``chatserver keys recover``), to one box key; audited."""
        async with self.engine.begin() as conn:
            if not await _enabled(conn, user_id):
                raise DomainError(ErrorCode.NOT_FOUND, "No enabled account of that name.")
            done = await conn.execute(sa.update(key_grants).where(
                key_grants.c.user_id == user_id, key_grants.c.box_pk == box_pk)
                .values(sealed_records_sk=sealed, granted_by=OPERATOR, granted_at=now))
            if not done.rowcount:
                raise DomainError(ErrorCode.NOT_FOUND,
                                  "That account has not registered this box key.")
            await _audit(conn, OPERATOR, "recover", now, subject_id=user_id)

    async def register(self, user_id: str, box_pk: str, box_sig: str,
                       certificate: dict[str, Any] | None, now: float = 0.0) -> None:
        """Record a counsellor's box public key with their identity key's signature of it and
        that key's certificate. A new box key (another device or browser) goes beside the old
        ones and waits for its own grant; no grant is ever voided by it. The same one again
        keeps its grant and takes the renewed proof. Only an enabled account registers: a
        console of a just disabled account that is still open for a moment must not put
        itself back on the list of those waiting for a grant."""
        proof = {"box_sig": box_sig,
                 "certificate": None if certificate is None else _dumps(certificate)}
        now = now or time.time()
        async with self.engine.begin() as conn:
            if not await _enabled(conn, user_id):
                raise DomainError(ErrorCode.FORBIDDEN, "This account is disabled.")
            row = (await conn.execute(sa.select(key_grants.c.box_pk).where(
                key_grants.c.user_id == user_id, key_grants.c.box_pk == box_pk))).first()
            if row is None:
                count = (await conn.execute(sa.select(sa.func.count()).select_from(key_grants)
                                            .where(key_grants.c.user_id == user_id))).scalar_one()
                if count >= MAX_BOX_KEYS:
                    raise DomainError(ErrorCode.CONFLICT,
                                      "Too many box keys for this account; ask an administrator.")
                await conn.execute(sa.insert(key_grants).values(user_id=user_id, box_pk=box_pk,
                                                              registered=now, **proof))
            else:
                await conn.execute(sa.update(key_grants).where(
                    key_grants.c.user_id == user_id, key_grants.c.box_pk == box_pk)
                    .values(registered=now, **proof))

    async def init(self, user_id: str, records_pk: str, sealed: str, now: float,
                   box_pk: str | None = None) -> None:
        """Create the team's records key (once); the creator holds the first grant, sealed to
        ``box_pk`` (without, their latest registered box key)."""
        async with self.engine.begin() as conn:
            if (await conn.execute(sa.select(team_keys.c.name)
                                   .where(team_keys.c.name == "records"))).first():
                raise DomainError(ErrorCode.CONFLICT, "The team already has a records key.")
            query = sa.select(key_grants.c.box_pk).where(key_grants.c.user_id == user_id)
            if box_pk is not None:
                query = query.where(key_grants.c.box_pk == box_pk)
            row = (await conn.execute(
                query.order_by(key_grants.c.registered.desc()).limit(1))).first()
            mine = None if row is None else str(row[0])
            if mine is None and box_pk is not None and await _enabled(conn, user_id):
                # The creator's own box key, named here: it needs no proof, since nobody but
                # its own console seals to it, and a counsellor not certified yet (whose
                # registration is refused where an organisation key is pinned) can still
                # make the records key before the key ceremony.
                count = (await conn.execute(sa.select(sa.func.count()).select_from(key_grants)
                                            .where(key_grants.c.user_id == user_id))).scalar_one()
                if count < MAX_BOX_KEYS:
                    await conn.execute(sa.insert(key_grants).values(
                        user_id=user_id, box_pk=box_pk, registered=now, box_sig=None,
                        certificate=None))
                    mine = box_pk
            if mine is None:
                raise DomainError(ErrorCode.BAD_STATE, "Register your box key first.")
            # Demo mode: the demo organisation key certifies it at once; otherwise the admin
            # does, offline (docs/operations.md, "Key ceremony").
            certificate = (_dumps(self.certify(b64decode(records_pk)))
                           if self.certify is not None else None)
            await conn.execute(sa.insert(team_keys).values(name="records",
                                                           public_key=records_pk, created=now,
                                                           certificate=certificate))
            await conn.execute(sa.update(key_grants).where(
                key_grants.c.user_id == user_id, key_grants.c.box_pk == mine)
                .values(sealed_records_sk=sealed, granted_by=user_id, granted_at=now))
            await _audit(conn, user_id, "init", now, subject_id=user_id)

    async def set_records_certificate(self, certificate: dict[str, Any]) -> None:
        """Install the organisation's certificate of the records key; refused unless it names
        the key the team has (whether it is signed, the caller and every client check)."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(team_keys.c.public_key)
                                      .where(team_keys.c.name == "records"))).first()
            if row is None:
                raise DomainError(ErrorCode.NOT_FOUND, "The team has no records key yet.")
            if certificate.get("records_pk") != row[0]:
                raise DomainError(ErrorCode.CONFLICT,
                                  "The certificate is for another records key.")
            await conn.execute(sa.update(team_keys).where(team_keys.c.name == "records")
                               .values(certificate=_dumps(certificate)))

    @staticmethod
    async def revoke(conn: AsyncConnection, user_id: str, now: float) -> None:
        """Take the records key from an account that is disabled or reset, in the caller's
        transaction: its grant goes with its box key, so nobody is offered to grant it again
        until it registers a new one. (What it may have copied it keeps: docs/protocol.md.)
        A grant taken away is audited as done by the operator."""
        held = (await conn.execute(
            sa.select(key_grants.c.user_id).where(key_grants.c.user_id == user_id,
                                                key_grants.c.sealed_records_sk.is_not(None))
            .limit(1))).first() is not None
        await conn.execute(sa.delete(key_grants).where(key_grants.c.user_id == user_id))
        if held:
            await _audit(conn, OPERATOR, "revoke", now, subject_id=user_id)

    async def holders(self) -> list[str]:
        """The accounts that hold a grant of the records key."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(key_grants.c.user_id).distinct()
                                      .where(key_grants.c.sealed_records_sk.is_not(None)))
            return sorted(str(r[0]) for r in rows)

    async def grant(self, granter: str, user_id: str, sealed: str, now: float,
                    box_pk: str | None = None, epoch: int | None = None) -> None:
        """A holder of the records key seals it to a colleague's box key, ``box_pk`` (without,
        the colleague's only box key waiting for one). Audited, and so is a refused try by
        someone who holds none. A holder may grant their own new device too."""
        refusal: DomainError | None = None
        async with self.engine.begin() as conn:
            if not await _granted(conn, granter):
                # Committed, unlike the grant: a try without the key is what the trail is for.
                await _audit(conn, granter, "grant", now, subject_id=user_id, refused=True)
                refusal = DomainError(ErrorCode.FORBIDDEN, "You do not hold the records key.")
            else:
                if not await _enabled(conn, user_id):
                    raise DomainError(ErrorCode.NOT_FOUND,
                                      "That colleague has not registered a box key.")
                if epoch is not None:
                    newest = (await conn.execute(sa.select(team_keys.c.epoch).where(
                        team_keys.c.name == "records"))).scalar()
                    if newest != epoch:
                        # A console loaded before a rotation would grant the retired epoch.
                        raise DomainError(ErrorCode.CONFLICT,
                                          "The records key was rotated: reload the console.")
                where = [key_grants.c.user_id == user_id]
                if box_pk is not None:
                    where.append(key_grants.c.box_pk == box_pk)
                else:
                    keys = list(await conn.execute(
                        sa.select(key_grants.c.box_pk, key_grants.c.sealed_records_sk)
                        .where(key_grants.c.user_id == user_id)))
                    waiting = [k for k in keys if k[1] is None] or keys
                    if len(waiting) > 1:
                        raise DomainError(ErrorCode.BAD_STATE,
                                          "That colleague has several box keys: name one.")
                    if waiting:
                        where.append(key_grants.c.box_pk == waiting[0][0])
                done = await conn.execute(
                    sa.update(key_grants).where(*where)
                    .values(sealed_records_sk=sealed, granted_by=granter, granted_at=now))
                if not done.rowcount:
                    raise DomainError(ErrorCode.NOT_FOUND,
                                      "That colleague has not registered a box key.")
                await _audit(conn, granter, "grant", now, subject_id=user_id)
        if refusal is not None:
            raise refusal
