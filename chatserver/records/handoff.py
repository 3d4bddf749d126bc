"""Hand-off with consent into case records, continuity (later lines and codename returns added
to the record), codename return, withdrawal and message drops.

This is the only bridge between a live chat (relay state) and lasting storage (records). It
enforces on the server what the console also shows: no record without the visitor's yes to
the current consent text, and only for the counsellor who holds the chat.
"""

from __future__ import annotations

from typing import Any

from chatserver.config import Config
from chatserver.errors import DomainError, ErrorCode, not_found
from chatserver.records.proofs import Proofs
from chatserver.records.store import RecordStore
from chatserver.relay.events import ChatHandedOff, DropAnswered, DropLeft
from chatserver.relay.relay import Relay
from chatserver.relay.state import Chat, Identity

GONE = "This codename is unknown or its record has been deleted."


class Handoff:
    """Records and drops for both namespaces."""

    def __init__(self, config: Config, relay: Relay, store: RecordStore) -> None:
        self.config = config
        self.relay = relay
        self.store = store
        self.proofs = Proofs(config, store.engine, relay.clock)

    async def create_record(self, who: Identity, chat_id: str, consent_version: str,
                            sealed_key: str, body: str, reader_pk: str | None = None,
                            reader_body: str | None = None) -> str:
        """Store the record of a consenting visitor's chat; the visitor gets a codename."""
        chat = await self.relay.own_chat(who, chat_id)
        if chat.record_id:
            raise DomainError(ErrorCode.CONFLICT,
                              "This chat has a record already: its lines are added to it.")
        if not chat.consent:
            raise DomainError(ErrorCode.NO_CONSENT, "The visitor has not agreed to a case record.")
        if chat.consent != consent_version or consent_version != self.config.consent_version:
            raise DomainError(ErrorCode.NO_CONSENT,
                              "The visitor agreed to a different consent text.")
        try:
            record_id, codename = await self.store.create(
                who.id, consent_version, sealed_key, body, self.relay.clock(), chat.lang,
                reader_pk, reader_body)
        except Exception:
            raise DomainError(ErrorCode.UNAVAILABLE,
                              "The record could not be saved; try again.") from None
        await self.relay.link_record(chat.id, record_id)
        await self.relay.send_codename(chat.id, codename)
        await self.relay.notify(ChatHandedOff(chat.entry, chat.lang, self.relay.clock()))
        return record_id

    async def return_chat(self, codename: str, lang: str, urgent: bool = False
                          ) -> tuple[Chat, str, int]:
        """Open a chat for a returning visitor, linked to their record: held for the
        counsellor who filed it while they are on duty, unless the visitor says it is urgent
        (then ahead of the queue, for whoever is free). A record its owner or an
        administrator deleted counts as gone (even while it could still be restored)."""
        meta = await self.store.find(codename)
        if meta is None:
            raise not_found(GONE)
        return await self.relay.request_chat("return", lang, record_id=meta.id,
                                             preferred="" if urgent else meta.counsellor_id,
                                             urgent=urgent)

    async def append(self, who: Identity, chat_id: str, body: str,
                     reader_body: str | None = None) -> int:
        """Add the later lines of ``who``'s chat to the record it is linked to (filed from it,
        or a codename return), sealed by the console to the records key. Only for the chat's
        own counsellor, and only with a grant (checked and audited by the store)."""
        chat = await self.relay.own_chat(who, chat_id)
        if not chat.record_id:
            raise DomainError(ErrorCode.BAD_STATE, "This chat has no case record.")
        # Only a record filed under the current consent text, which promises continuity: a
        # visitor who agreed to an older one (before CHATSERVER_CONSENT_VERSION v2) was told
        # that only the chat up to their yes is kept.
        return await self.store.append(chat.record_id, who.id, body, self.relay.clock(),
                                       reader_body, self.config.consent_version)

    async def reader_pk(self, who: Identity, chat_id: str) -> str:
        """The visitor's reader key of the record ``who``'s chat is linked to ("" if none)."""
        chat = await self.relay.own_chat(who, chat_id)
        if not chat.record_id:
            raise DomainError(ErrorCode.BAD_STATE, "This chat has no case record.")
        return await self.store.reader_pk(chat.record_id, who.id, self.relay.clock())

    async def read_record(self, codename: str) -> dict[str, Any]:
        """The visitor's own copy of their record, found by codename (their widget opens it
        with the reading code, which never reaches us)."""
        found = await self.store.read(codename, self.relay.clock())
        if found is None:
            raise not_found(GONE)
        return found

    async def withdraw(self, codename: str) -> None:
        """Delete the record belonging to ``codename`` at once and for good (consent
        withdrawn), also one that was deleted and could still be restored."""
        if not await self.store.withdraw(codename, self.relay.clock()):
            raise not_found(GONE)

    async def list_records(self, who: Identity) -> list[dict[str, Any]]:
        return [
            {"record_id": m.id, "created": m.created, "retain_until": m.retain_until,
             "counsellor_id": m.counsellor_id}
            for m in await self.store.list_records(who.id, self.relay.clock())
        ]

    async def count_records(self, who: Identity) -> int:
        return await self.store.count_records(who.id)

    async def list_deleted(self, who: Identity) -> list[dict[str, Any]]:
        return [
            {"record_id": d.id, "created": d.created, "counsellor_id": d.counsellor_id,
             "deleted_at": d.deleted_at, "purge_at": d.purge_at}
            for d in await self.store.list_deleted(who.id, self.relay.clock())
        ]

    async def open_record(self, who: Identity, record_id: str, export: bool) -> dict[str, Any]:
        return await self.store.open(record_id, who.id, self.relay.clock(),
                                     "export" if export else "open")

    async def add_note(self, who: Identity, record_id: str, body: str) -> str:
        return await self.store.add_note(record_id, who.id, body, self.relay.clock())

    async def delete_record(self, who: Identity, record_id: str) -> float:
        """Delete a record (owner or administrator); returns when it will be purged."""
        return await self.store.delete(record_id, who.id, self.relay.clock())

    async def restore_record(self, who: Identity, record_id: str) -> None:
        await self.store.restore(record_id, who.id, self.relay.clock())

    async def leave_drop(self, lookup: str, sealed_key: str, body: str, reply_pk: str,
                         lang: str, round_no: int = 1) -> None:
        await self.store.create_drop(lookup, sealed_key, body, reply_pk, self.relay.clock(),
                                     round_no)
        await self.relay.notify(DropLeft(lang, self.relay.clock()))
        await self.announce_waiting()

    async def announce_waiting(self) -> None:
        """Tell every console how many threads await an answer (after each change)."""
        try:
            count = await self.store.waiting_drops()
        except Exception:  # the count is a convenience: the message itself is stored
            return
        await self.relay.drops_waiting(count)

    async def answer_drop(self, who: Identity, drop_id: str, answer: dict[str, Any]) -> None:
        """Store a counsellor's signed answer, once, if they hold a grant and their own
        certified, unrevoked identity key signed it for this drop (:mod:`proofs`), so that
        nothing the visitor's widget would refuse is kept."""
        if not await self.store.holds_grant(who.id):
            raise DomainError(ErrorCode.NO_GRANT,
                              "Only a counsellor holding the records key may answer.")
        drop = await self.store.open_drop(drop_id)
        if drop["lookup"]:
            await self.proofs.check_drop_answer(who.id, answer, drop["lookup"])
        await self.store.answer_drop(drop_id, who.id, answer, self.relay.clock())
        await self.relay.notify(DropAnswered(self.relay.clock()))
        await self.announce_waiting()

    async def register_box_key(self, who: Identity, box_pk: str, box_sig: str,
                               certificate: dict[str, Any] | None) -> None:
        """Keep a counsellor's box key beside their others, only if their own certified
        identity key signed it (:mod:`proofs`): the keyring lists no proof a console would
        refuse, and nobody is offered a box key its owner did not vouch for."""
        await self.proofs.check_box_key(who.id, box_pk, box_sig, certificate)
        await self.store.keyring.register(who.id, box_pk, box_sig, certificate,
                                          self.relay.clock())

    async def open_drop(self, drop_id: str) -> dict[str, Any]:
        return await self.store.open_drop(drop_id)
