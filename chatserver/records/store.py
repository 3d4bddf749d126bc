"""Case records and anonymous message drops: ciphertext in the database, never plaintext.

A record is encrypted in the counsellor's browser under a fresh record key, which is sealed to
the team's records public key (see ``docs/protocol.md``); the server stores the ciphertext, the
sealed key and minimal metadata (id, created, retention date, assigned counsellor). A record
can only be created for a live chat of the calling counsellor whose visitor said yes to the
current consent text. Visitors find their record or drop again only through a codename, kept
as a slow hash. Every opening, note, export and deletion is written to an audit trail of ids
and times, never content.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
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
    record_notes,
    records,
    settings,
    team_keys,
    users,
)


@dataclass(frozen=True)
class RecordMeta:
    """What may be shown about a record without opening it."""

    id: str
    created: float
    retain_until: float
    counsellor_id: str


def _new_id() -> str:
    return secrets.token_urlsafe(12)


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
    """Create, read, annotate, delete and expire records and drops; audit every access."""

    def __init__(self, engine: AsyncEngine, hasher: CodenameHasher, retention_s: float,
                 drop_ttl_s: float, certify_records: Certifier | None = None) -> None:
        self.engine = engine
        self.hasher = hasher
        self.retention_s = retention_s
        self.drop_ttl_s = drop_ttl_s
        self.keyring = Keyring(engine, certify_records)

    async def _audit(self, conn: Any, record_id: str, user_id: str, action: str,
                     now: float) -> None:
        await conn.execute(sa.insert(record_audit).values(
            record_id=record_id, user_id=user_id, action=action, at=now))

    async def create(self, counsellor_id: str, consent_version: str, sealed_key: str,
                     body: str, now: float, lang: str = "de") -> tuple[str, str]:
        """Store a new record durably; returns its id and the visitor's codename."""
        codename = generate(lang)
        key = await self.hasher.key(codename)
        record_id = _new_id()
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(records).values(
                id=record_id, created=now, retain_until=now + self.retention_s,
                counsellor_id=counsellor_id, consent_version=consent_version,
                codename_key=key, sealed_key=sealed_key, body=body))
            await self._audit(conn, record_id, counsellor_id, "create", now)
        return record_id, codename

    async def list_records(self) -> list[RecordMeta]:
        """Every record of the team, newest first (metadata only)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(records.c.id, records.c.created, records.c.retain_until,
                          records.c.counsellor_id).order_by(records.c.created.desc()))
            return [RecordMeta(*row) for row in rows]

    async def open(self, record_id: str, user_id: str, now: float,
                   action: str = "open") -> dict[str, Any]:
        """The record's ciphertext and notes; the opening is audited."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(records).where(records.c.id == record_id))).first()
            if row is None:
                raise DomainError(ErrorCode.NOT_FOUND, "No such record.")
            notes = await conn.execute(
                sa.select(record_notes.c.id, record_notes.c.created, record_notes.c.author_id,
                          record_notes.c.body)
                .where(record_notes.c.record_id == record_id)
                .order_by(record_notes.c.created))
            await self._audit(conn, record_id, user_id, action, now)
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
            }

    async def add_note(self, record_id: str, user_id: str, body: str, now: float) -> str:
        """Append an encrypted note (sealed under the record key by the console)."""
        note_id = _new_id()
        async with self.engine.begin() as conn:
            exists = (await conn.execute(
                sa.select(records.c.id).where(records.c.id == record_id))).first()
            if exists is None:
                raise DomainError(ErrorCode.NOT_FOUND, "No such record.")
            await conn.execute(sa.insert(record_notes).values(
                id=note_id, record_id=record_id, created=now, author_id=user_id, body=body))
            await self._audit(conn, record_id, user_id, "note", now)
        return note_id

    async def delete(self, record_id: str, user_id: str, now: float,
                     action: str = "delete") -> bool:
        """Delete a record and its notes; True if it existed."""
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(record_notes).where(record_notes.c.record_id == record_id))
            gone = (await conn.execute(sa.delete(records).where(records.c.id == record_id)))
            if gone.rowcount:
                await self._audit(conn, record_id, user_id, action, now)
            return bool(gone.rowcount)

    async def find(self, codename: str) -> RecordMeta | None:
        """The record a codename belongs to, if any."""
        key = await self.hasher.key(codename)
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(records.c.id, records.c.created, records.c.retain_until,
                          records.c.counsellor_id).where(records.c.codename_key == key))).first()
            return RecordMeta(*row) if row else None

    async def withdraw(self, codename: str, now: float) -> bool:
        """The visitor withdraws consent: their record is deleted at once."""
        meta = await self.find(codename)
        if meta is None:
            return False
        return await self.delete(meta.id, "visitor", now, action="withdraw")

    async def audit_trail(self, record_id: str) -> list[dict[str, Any]]:
        """Who did what to a record, when (ids and times only).

        No route shows it yet: operators read ``record_audit`` in the database. The tests
        read it here to check that every access is written.
        """
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(record_audit.c.user_id, record_audit.c.action, record_audit.c.at)
                .where(record_audit.c.record_id == record_id).order_by(record_audit.c.id))
            return [{"user_id": r.user_id, "action": r.action, "at": r.at} for r in rows]

    async def purge(self, now: float) -> int:
        """Delete records past their retention date and expired drops."""
        async with self.engine.begin() as conn:
            expired = [r[0] for r in await conn.execute(
                sa.select(records.c.id).where(records.c.retain_until < now))]
            for record_id in expired:
                await conn.execute(
                    sa.delete(record_notes).where(record_notes.c.record_id == record_id))
                await conn.execute(sa.delete(records).where(records.c.id == record_id))
                await self._audit(conn, record_id, "system", "expire", now)
            gone = await conn.execute(sa.delete(drops).where(drops.c.expires < now))
            return len(expired) + int(gone.rowcount or 0)

    # -- anonymous message drops ------------------------------------------------------

    async def create_drop(self, codename: str, sealed_key: str, body: str, reply_pk: str,
                          now: float) -> str:
        """Store a visitor's sealed message under the hash of their codename."""
        key = await self.hasher.key(codename)
        drop_id = _new_id()
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(drops).values(
                id=drop_id, created=now, expires=now + self.drop_ttl_s, codename_key=key,
                sealed_key=sealed_key, body=body, reply_pk=reply_pk))
        return drop_id

    async def list_drops(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(drops.c.id, drops.c.created, drops.c.expires, drops.c.answered_at)
                .order_by(drops.c.created))
            return [{"drop_id": r.id, "created": r.created, "expires": r.expires,
                     "answered": r.answered_at is not None} for r in rows]

    async def open_drop(self, drop_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(drops).where(drops.c.id == drop_id))).first()
            if row is None:
                raise DomainError(ErrorCode.NOT_FOUND, "No such message.")
            return {"drop_id": row.id, "created": row.created, "sealed_key": row.sealed_key,
                    "body": row.body, "reply_pk": row.reply_pk, "answer": row.answer}

    async def answer_drop(self, drop_id: str, answer: str, now: float) -> None:
        """Store the answer, sealed by the console to the visitor's reply key."""
        async with self.engine.begin() as conn:
            done = await conn.execute(
                sa.update(drops).where(drops.c.id == drop_id)
                .values(answer=answer, answered_at=now))
            if not done.rowcount:
                raise DomainError(ErrorCode.NOT_FOUND, "No such message.")

    async def read_drop(self, codename: str) -> dict[str, Any] | None:
        """What a visitor with this codename may see: whether answered, and the answer."""
        key = await self.hasher.key(codename)
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(drops.c.answer, drops.c.expires).where(drops.c.codename_key == key)
            )).first()
            if row is None:
                return None
            return {"answered": row.answer is not None, "answer": row.answer or "",
                    "expires": row.expires}


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

    async def status(self, user_id: str) -> dict[str, Any]:
        """What a counsellor's console needs: the public key and its certificate, their grant,
        who waits with what proof of identity (never a disabled account)."""
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(
                sa.select(key_grants, users.c.pseudonym)
                .join(users, users.c.id == key_grants.c.user_id)
                .where(users.c.disabled.is_(False))))
        mine = next((r for r in rows if r.user_id == user_id), None)
        records_pk, certificate = await self.records_key()
        return {
            "records_pk": records_pk,
            "records_cert": certificate,
            "me": None if mine is None else {"box_pk": mine.box_pk,
                                             "sealed": mine.sealed_records_sk or ""},
            "pending": [{"user_id": r.user_id, "pseudonym": r.pseudonym, "box_pk": r.box_pk,
                         "box_sig": r.box_sig or "", "certificate": _json(r.certificate)}
                        for r in rows if r.sealed_records_sk is None],
        }

    async def register(self, user_id: str, box_pk: str, box_sig: str,
                       certificate: dict[str, Any] | None) -> None:
        """Record a counsellor's box public key with their identity key's signature of it and
        that key's certificate; a new box key voids their old grant, the same one with a
        renewed certificate keeps it. Only an enabled account registers: a console of a just
        disabled account that is still open for a moment must not put itself back on the
        list of those waiting for a grant."""
        proof = {"box_sig": box_sig,
                 "certificate": None if certificate is None else _dumps(certificate)}
        async with self.engine.begin() as conn:
            if not await _enabled(conn, user_id):
                raise DomainError(ErrorCode.FORBIDDEN, "This account is disabled.")
            row = (await conn.execute(sa.select(key_grants.c.box_pk)
                                      .where(key_grants.c.user_id == user_id))).first()
            if row is None:
                await conn.execute(sa.insert(key_grants).values(user_id=user_id, box_pk=box_pk,
                                                                **proof))
            elif row[0] != box_pk:
                await conn.execute(sa.update(key_grants).where(key_grants.c.user_id == user_id)
                                   .values(box_pk=box_pk, sealed_records_sk=None,
                                           granted_by=None, granted_at=None, **proof))
            else:
                await conn.execute(sa.update(key_grants).where(key_grants.c.user_id == user_id)
                                   .values(**proof))

    async def init(self, user_id: str, records_pk: str, sealed: str, now: float) -> None:
        """Create the team's records key (once); the creator holds the first grant."""
        async with self.engine.begin() as conn:
            if (await conn.execute(sa.select(team_keys.c.name)
                                   .where(team_keys.c.name == "records"))).first():
                raise DomainError(ErrorCode.CONFLICT, "The team already has a records key.")
            mine = (await conn.execute(sa.select(key_grants.c.user_id)
                                       .where(key_grants.c.user_id == user_id))).first()
            if mine is None:
                raise DomainError(ErrorCode.BAD_STATE, "Register your box key first.")
            # Demo mode: the demo organisation key certifies it at once; otherwise the admin
            # does, offline (docs/operations.md, "Key ceremony").
            certificate = (_dumps(self.certify(b64decode(records_pk)))
                           if self.certify is not None else None)
            await conn.execute(sa.insert(team_keys).values(name="records",
                                                           public_key=records_pk, created=now,
                                                           certificate=certificate))
            await conn.execute(sa.update(key_grants).where(key_grants.c.user_id == user_id)
                               .values(sealed_records_sk=sealed, granted_by=user_id,
                                       granted_at=now))

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
    async def revoke(conn: AsyncConnection, user_id: str) -> None:
        """Take the records key from an account that is disabled or reset, in the caller's
        transaction: its grant goes with its box key, so nobody is offered to grant it again
        until it registers a new one. (What it may have copied it keeps: docs/protocol.md.)"""
        await conn.execute(sa.delete(key_grants).where(key_grants.c.user_id == user_id))

    async def holders(self) -> list[str]:
        """The accounts that hold a grant of the records key."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(key_grants.c.user_id)
                                      .where(key_grants.c.sealed_records_sk.is_not(None)))
            return sorted(str(r[0]) for r in rows)

    async def grant(self, granter: str, user_id: str, sealed: str, now: float) -> None:
        """A holder of the records key seals it to a colleague's box key."""
        async with self.engine.begin() as conn:
            holder = (await conn.execute(sa.select(key_grants.c.sealed_records_sk)
                                         .where(key_grants.c.user_id == granter))).first()
            if holder is None or holder[0] is None:
                raise DomainError(ErrorCode.FORBIDDEN, "You do not hold the records key.")
            if not await _enabled(conn, user_id):
                raise DomainError(ErrorCode.NOT_FOUND,
                                  "That colleague has not registered a box key.")
            done = await conn.execute(sa.update(key_grants).where(key_grants.c.user_id == user_id)
                                      .values(sealed_records_sk=sealed, granted_by=granter,
                                              granted_at=now))
            if not done.rowcount:
                raise DomainError(ErrorCode.NOT_FOUND,
                                  "That colleague has not registered a box key.")
