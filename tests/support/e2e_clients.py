"""The end-to-end protocol on top of the raw test clients, plus a throwaway organisation PKI.

``E2EVisitor`` and ``E2ECounsellor`` wrap :mod:`tests.support.clients` and speak
``chatserver.crypto`` for every message: a fresh handshake after ``accepted`` and
``transferred``, then ``send_text``/``receive_text`` (or structured ``send``/``receive``).
Envelopes go through an outbox and an inbox per chat (:mod:`tests.support.delivery`), with
the rules the widget and the console follow: a message is acknowledged once it is decrypted
and handed to the test, in order, and kept in the sender's outbox until its receipt comes.
The raw client stays reachable as ``.raw`` for tests about the relay itself.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from chatserver import crypto
from tests.support.clients import DEFAULT_TIMEOUT, CounsellorClient, VisitorClient
from tests.support.delivery import Link
from tests.support.harness import Harness


@dataclass
class Identity:
    """A counsellor's certified Ed25519 identity (the console holds this in real life)."""

    signing: crypto.SigningSeed = field(repr=False)
    certificate: dict[str, Any]

    @property
    def public_key(self) -> bytes:
        """The identity public key."""
        return self.signing.public_key

    def box_registration(self, box_pk: bytes) -> dict[str, Any]:
        """The ``keyring_register`` payload a console sends for its box key ``box_pk``."""
        return {"box_pk": crypto.b64encode(box_pk),
                "box_sig": crypto.b64encode(crypto.sign_box_key(self.signing, box_pk)),
                "certificate": self.certificate}


class Pki:
    """An organisation key made for one test, its certificates and its revocation list."""

    def __init__(self, now: int | None = None) -> None:
        self.now = int(time.time()) if now is None else now
        self.org = crypto.SigningSeed.generate()
        self._revoked: list[bytes] = []
        self.revocations = crypto.issue_revocation_list(self.org, self.now, [])

    @property
    def org_public_key(self) -> bytes:
        """The pinned organisation public key."""
        return self.org.public_key

    def identity(self, pseudonym: str = "Anna", days: int = 30) -> Identity:
        """A fresh counsellor identity key with a certificate valid from now for ``days``."""
        signing = crypto.SigningSeed.generate()
        cert = crypto.issue_certificate(self.org, signing.public_key, pseudonym, self.now,
                                        self.now + days * 86400)
        return Identity(signing, cert)

    def records_certificate(self, records_pk: bytes, days: int = 365) -> dict[str, Any]:
        """The organisation's certificate of the team's records key (``chatserver keys
        certify-records``), valid from now for ``days``."""
        return crypto.issue_records_certificate(self.org, records_pk, self.now,
                                                self.now + days * 86400)

    def revoke(self, identity: Identity) -> None:
        """Put ``identity`` on a freshly signed revocation list."""
        self._revoked.append(identity.public_key)
        self.revocations = crypto.issue_revocation_list(self.org, self.now, self._revoked)

    def visitor_session(self, chat_id: str) -> crypto.VisitorSession:
        """A visitor session that pins this organisation."""
        return crypto.VisitorSession(self.org_public_key, chat_id, self.revocations, now=self.now)


class _Receiving:
    """Pulling the next envelope of one chat through its inbox: a gap is resynced (with a
    growing pause), everything bounded by ``timeout``."""

    raw: VisitorClient | CounsellorClient

    def _drain(self) -> None:
        raise NotImplementedError

    def _feed(self, msg: dict[str, Any]) -> None:
        raise NotImplementedError

    async def _take(self, link: Link, timeout: float) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._drain()
            got = link.inbox.take()
            if got is not None:
                return got[0], crypto.b64decode(got[1])
            now = loop.time()
            if now >= deadline:
                raise TimeoutError("no envelope in time")
            resync_at = await link.watch_gap(now)
            until = deadline if resync_at is None else min(deadline, resync_at)
            try:
                self._feed(await self.raw.expect("msg", max(0.01, until - now)))
            except TimeoutError:
                continue


class E2EVisitor(_Receiving):
    """A visitor whose every message goes through the end-to-end protocol, and through an
    outbox and an inbox (``tests/support/delivery.py``) like the widget's."""

    raw: VisitorClient

    def __init__(self, raw: VisitorClient, pki: Pki) -> None:
        self.raw = raw
        self.pki = pki
        self.session: crypto.VisitorSession | None = None
        self._link: Link | None = None

    @property
    def chat_id(self) -> str:
        """The chat this visitor holds."""
        return self.raw.chat_id

    @property
    def link(self) -> Link:
        """The chat's outbox and inbox, numbered where the relay said (request or resume)."""
        if self._link is None:
            # Through self.raw at call time: a test may replace the connection (a new node).
            self._link = Link(lambda seq, ct: self.raw.call("send", {"seq": seq, "ct": ct}),
                              lambda upto, lost: self.raw.ack(upto, lost),
                              lambda after: self.raw.resync(after),
                              self.raw.next_seq, self.raw.acked)
        return self._link

    async def request(self, entry: str = "exit", lang: str = "de") -> dict[str, Any]:
        """Ask for a chat."""
        return await self.raw.request(entry, lang)

    async def resumed(self, token: str | None = None) -> dict[str, Any]:
        """After a reconnect of the same page: resume, then send everything undelivered."""
        answer = await self.raw.resume(token)
        if answer.get("ok") and answer["status"] != "ended":
            self.link.resumed(answer["next_seq"], answer["acked"], answer["delivered"])
            await self.link.flush()
        return answer

    async def handshake(self, event: str | None = "accepted",
                        timeout: float = DEFAULT_TIMEOUT, *, vouched: bool = True
                        ) -> crypto.Received:
        """Wait for ``event`` (``accepted``, ``transferred``; None after a resume), send a
        fresh hello, and check the counsellor's answer. Like the widget, a visitor that holds
        an established session lets it vouch for the new one (``vouched=False``: a page that
        lost it)."""
        if event is not None:
            await self.raw.expect(event, timeout)
        previous = self.session if vouched and self.session and self.session.established \
            else None
        self.session = self.pki.visitor_session(self.chat_id)
        answer = await self._send_frame(self.session.hello(previous))
        assert answer.get("ok"), answer
        while True:
            seq, frame = await self._take(self.link, timeout)
            if frame[0] != crypto.COUNSELLOR_HELLO:
                await self._shown(seq, False)
                continue
            try:
                got = self.session.receive(frame)
            except crypto.CryptoError:
                await self._shown(seq, False)
                raise
            await self._shown(seq, True)
            return got

    async def send(self, payload: dict[str, Any], tag: Any = None) -> dict[str, Any]:
        """Encrypt and send one structured message; returns the relay's answer to it (the
        envelope stays in the outbox, ``tag`` on its entry, until its receipt comes)."""
        assert self.session is not None, "no handshake yet"
        return await self._send_frame(self.session.encrypt(payload), tag)

    async def send_text(self, text: str, tag: Any = None) -> dict[str, Any]:
        """Encrypt and send a text message."""
        return await self.send({"t": "text", "body": text}, tag)

    async def receive(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The next decrypted message from the counsellor; acknowledged once decrypted."""
        assert self.session is not None, "no handshake yet"
        seq, frame = await self._take(self.link, timeout)
        try:
            got = self.session.receive(frame)
        except crypto.CryptoError:
            await self._shown(seq, False)
            raise
        await self._shown(seq, True)
        return got.payload

    async def receive_text(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The body of the next text message."""
        payload = await self.receive(timeout)
        assert payload["t"] == "text", payload["t"]
        return str(payload["body"])

    async def _send_frame(self, frame: bytes, tag: Any = None) -> dict[str, Any]:
        self._drain()
        entry = self.link.outbox.push(crypto.b64encode(frame), tag)
        answer = await self.link.flush(entry)
        return answer or {"error": "disconnected", "message": "kept in the outbox"}

    async def _shown(self, seq: int, ok: bool) -> None:
        self.link.inbox.shown(seq, ok)
        await self.link.acknowledge()

    def _drain(self) -> None:
        for msg in self.raw.drain("msg"):
            self._feed(msg)
        for receipt in self.raw.drain("delivered"):
            self.link.outbox.delivered(receipt["upto"], receipt.get("lost", []))

    def _feed(self, msg: dict[str, Any]) -> None:
        self.link.inbox.receive(msg["seq"], msg["ct"])


class E2ECounsellor(_Receiving):
    """A counsellor whose every message goes through the end-to-end protocol, per chat, and
    through an outbox and an inbox per chat like the console's."""

    raw: CounsellorClient

    def __init__(self, raw: CounsellorClient, identity: Identity) -> None:
        self.raw = raw
        self.identity = identity
        self.sessions: dict[str, crypto.CounsellorSession] = {}
        # Sessions for hellos that the chat's session did not vouch for, not answered.
        self.newcomers: dict[str, tuple[crypto.CounsellorSession, bytes]] = {}
        self.links: dict[str, Link] = {}

    def link(self, chat_id: str) -> Link:
        """The chat's outbox and inbox, numbered where the relay said (sync, accept,
        assigned); until it said, envelopes wait."""
        raw = self.raw
        link = self.links.get(chat_id)
        if link is None:
            # Through self.raw at call time: a test may replace the connection (a new node).
            link = self.links[chat_id] = Link(
                lambda seq, ct: self.raw.call("send", {"chat_id": chat_id, "seq": seq, "ct": ct}),
                lambda upto, lost: self.raw.ack(chat_id, upto, lost),
                lambda after: self.raw.resync(chat_id, after),
                raw.next_seq.get(chat_id, 1), raw.acked.get(chat_id))
        elif link.inbox.cursor is None and chat_id in raw.acked:
            link.resumed(raw.next_seq[chat_id], raw.acked[chat_id], raw.receipt[chat_id])
        return link

    async def synced(self) -> dict[str, Any]:
        """After a reconnect of the same console: sync, then send everything undelivered."""
        answer = await self.raw.sync()
        for chat in answer.get("chats", []):
            link = self.link(chat["chat_id"])
            link.resumed(chat["next_seq"], chat["acked"], chat["delivered"])
            await link.flush()
        return answer

    async def accept(self, chat_id: str, timeout: float = DEFAULT_TIMEOUT) -> crypto.Received:
        """Accept a queued chat and complete the handshake the visitor starts."""
        answer = await self.raw.accept(chat_id)
        assert answer.get("ok"), answer
        return await self.handshake(chat_id, timeout)

    async def handshake(self, chat_id: str, timeout: float = DEFAULT_TIMEOUT, *,
                        admit_unvouched: bool = False) -> crypto.Received:
        """Wait for the visitor's hello in ``chat_id`` and answer it with a fresh session.
        Like the console, a hello that the chat's established session does not vouch for is
        shown (acknowledged) but not answered unless ``admit_unvouched``; it waits in
        ``newcomers``."""
        while True:
            seq, frame = await self._take(self.link(chat_id), timeout)
            if frame[0] in (crypto.VISITOR_HELLO, crypto.CONTINUED_HELLO):
                break
            await self._shown(chat_id, seq, False)
        previous = self.sessions.get(chat_id)
        if previous is not None and not previous.established:
            previous = None
        session = crypto.CounsellorSession(self.identity.signing, self.identity.certificate,
                                           chat_id, previous=previous)
        try:
            got = session.receive(frame)
        except crypto.CryptoError:
            await self._shown(chat_id, seq, False)
            raise
        assert got.reply is not None
        if previous is not None and not got.payload["continued"] and not admit_unvouched:
            self.newcomers[chat_id] = (session, got.reply)
            await self._shown(chat_id, seq, True)
            return got
        self.sessions[chat_id] = session
        await self._shown(chat_id, seq, True)
        answer = await self._send_frame(chat_id, got.reply)
        assert answer.get("ok"), answer
        return got

    async def admit(self, chat_id: str) -> None:
        """Answer the waiting unvouched hello of ``chat_id`` after all (the console's
        "Verbinden")."""
        session, reply = self.newcomers.pop(chat_id)
        self.sessions[chat_id] = session
        answer = await self._send_frame(chat_id, reply)
        assert answer.get("ok"), answer

    async def send(self, chat_id: str, payload: dict[str, Any], tag: Any = None
                   ) -> dict[str, Any]:
        """Encrypt and send one structured message into ``chat_id``."""
        return await self._send_frame(chat_id, self.sessions[chat_id].encrypt(payload), tag)

    async def send_text(self, chat_id: str, text: str, tag: Any = None) -> dict[str, Any]:
        """Encrypt and send a text message into ``chat_id``."""
        return await self.send(chat_id, {"t": "text", "body": text}, tag)

    async def receive(self, chat_id: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The next decrypted message from the visitor of ``chat_id``."""
        seq, frame = await self._take(self.link(chat_id), timeout)
        try:
            got = self.sessions[chat_id].receive(frame)
        except crypto.CryptoError:
            await self._shown(chat_id, seq, False)
            raise
        await self._shown(chat_id, seq, True)
        return got.payload

    async def receive_text(self, chat_id: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The body of the next text message in ``chat_id``."""
        payload = await self.receive(chat_id, timeout)
        assert payload["t"] == "text", payload["t"]
        return str(payload["body"])

    async def _send_frame(self, chat_id: str, frame: bytes, tag: Any = None) -> dict[str, Any]:
        self._drain()
        link = self.link(chat_id)
        answer = await link.flush(link.outbox.push(crypto.b64encode(frame), tag))
        return answer or {"error": "disconnected", "message": "kept in the outbox"}

    async def _shown(self, chat_id: str, seq: int, ok: bool) -> None:
        link = self.link(chat_id)
        link.inbox.shown(seq, ok)
        await link.acknowledge()

    def _drain(self) -> None:
        for msg in self.raw.drain("msg"):
            self._feed(msg)
        for receipt in self.raw.drain("delivered"):
            self.link(receipt["chat_id"]).outbox.delivered(receipt["upto"],
                                                           receipt.get("lost", []))

    def _feed(self, msg: dict[str, Any]) -> None:
        self.link(msg["chat_id"]).inbox.receive(msg["seq"], msg["ct"])


def session_pair(pki: Pki, identity: Identity, chat_id: str = "chat-1"
                 ) -> tuple[crypto.VisitorSession, crypto.CounsellorSession]:
    """A visitor and a counsellor session that completed their handshake directly."""
    visitor = pki.visitor_session(chat_id)
    counsellor = crypto.CounsellorSession(identity.signing, identity.certificate, chat_id)
    reply = counsellor.receive(visitor.hello()).reply
    assert reply is not None
    visitor.receive(reply)
    return visitor, counsellor


async def open_chat(harness: Harness, pki: Pki, name: str = "anna", pseudonym: str = "Anna",
                    entry: str = "exit", lang: str = "de") -> tuple[E2EVisitor, E2ECounsellor]:
    """A visitor and an on-duty counsellor on ``harness`` with an accepted, encrypted chat."""
    counsellor = E2ECounsellor(await harness.counsellor(name, pseudonym), pki.identity(pseudonym))
    visitor = E2EVisitor(await harness.visitor(), pki)
    answer = await visitor.request(entry, lang)
    assert answer.get("ok"), answer
    await asyncio.gather(visitor.handshake("accepted"), counsellor.accept(visitor.chat_id))
    return visitor, counsellor
