"""The end-to-end protocol on top of the raw test clients, plus a throwaway organisation PKI.

``E2EVisitor`` and ``E2ECounsellor`` wrap :mod:`tests.support.clients` and speak
``chatserver.crypto`` for every message: a fresh handshake after ``accepted`` and
``transferred``, then ``send_text``/``receive_text`` (or structured ``send``/``receive``).
The raw client stays reachable as ``.raw`` for tests about the relay itself.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from chatserver import crypto
from tests.support.clients import DEFAULT_TIMEOUT, CounsellorClient, VisitorClient
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

    def revoke(self, identity: Identity) -> None:
        """Put ``identity`` on a freshly signed revocation list."""
        self._revoked.append(identity.public_key)
        self.revocations = crypto.issue_revocation_list(self.org, self.now, self._revoked)

    def visitor_session(self, chat_id: str) -> crypto.VisitorSession:
        """A visitor session that pins this organisation."""
        return crypto.VisitorSession(self.org_public_key, chat_id, self.revocations, now=self.now)


def _frame(message: dict[str, Any]) -> bytes:
    return crypto.b64decode(message["ct"])


class E2EVisitor:
    """A visitor whose every message goes through the end-to-end protocol."""

    def __init__(self, raw: VisitorClient, pki: Pki) -> None:
        self.raw = raw
        self.pki = pki
        self.session: crypto.VisitorSession | None = None
        self._seen = 0  # highest relay seq processed; redelivered envelopes are dropped

    @property
    def chat_id(self) -> str:
        """The chat this visitor holds."""
        return self.raw.chat_id

    async def request(self, entry: str = "exit", lang: str = "de") -> dict[str, Any]:
        """Ask for a chat."""
        return await self.raw.request(entry, lang)

    async def handshake(self, event: str | None = "accepted",
                        timeout: float = DEFAULT_TIMEOUT) -> crypto.Received:
        """Wait for ``event`` (``accepted``, ``transferred``; None after a resume), send a
        fresh hello, and check the counsellor's answer."""
        if event is not None:
            await self.raw.expect(event, timeout)
        self.session = self.pki.visitor_session(self.chat_id)
        answer = await self.raw.send(crypto.b64encode(self.session.hello()))
        assert answer.get("ok"), answer
        while True:
            frame = await self._next_frame(timeout)
            if frame[0] == crypto.COUNSELLOR_HELLO:
                return self.session.receive(frame)

    async def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Encrypt and send one structured message."""
        assert self.session is not None, "no handshake yet"
        return await self.raw.send(crypto.b64encode(self.session.encrypt(payload)))

    async def send_text(self, text: str) -> dict[str, Any]:
        """Encrypt and send a text message."""
        return await self.send({"t": "text", "body": text})

    async def receive(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The next decrypted message from the counsellor."""
        assert self.session is not None, "no handshake yet"
        got = self.session.receive(await self._next_frame(timeout))
        return got.payload

    async def receive_text(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The body of the next text message."""
        payload = await self.receive(timeout)
        assert payload["t"] == "text", payload["t"]
        return str(payload["body"])

    async def _next_frame(self, timeout: float) -> bytes:
        while True:
            msg = await self.raw.expect("msg", timeout)
            if msg["seq"] <= self._seen:
                continue
            self._seen = msg["seq"]
            await self.raw.ack(msg["seq"])
            return _frame(msg)


class E2ECounsellor:
    """A counsellor whose every message goes through the end-to-end protocol, per chat."""

    def __init__(self, raw: CounsellorClient, identity: Identity) -> None:
        self.raw = raw
        self.identity = identity
        self.sessions: dict[str, crypto.CounsellorSession] = {}
        self._pending: dict[str, deque[bytes]] = defaultdict(deque)
        self._seen: dict[str, int] = defaultdict(int)

    async def accept(self, chat_id: str, timeout: float = DEFAULT_TIMEOUT) -> crypto.Received:
        """Accept a queued chat and complete the handshake the visitor starts."""
        answer = await self.raw.accept(chat_id)
        assert answer.get("ok"), answer
        return await self.handshake(chat_id, timeout)

    async def handshake(self, chat_id: str, timeout: float = DEFAULT_TIMEOUT) -> crypto.Received:
        """Wait for the visitor's hello in ``chat_id`` and answer it with a fresh session."""
        while True:
            frame = await self._next_frame(chat_id, timeout)
            if frame[0] == crypto.VISITOR_HELLO:
                break
        session = crypto.CounsellorSession(self.identity.signing, self.identity.certificate,
                                           chat_id)
        got = session.receive(frame)
        assert got.reply is not None
        self.sessions[chat_id] = session
        answer = await self.raw.send(chat_id, crypto.b64encode(got.reply))
        assert answer.get("ok"), answer
        return got

    async def send(self, chat_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Encrypt and send one structured message into ``chat_id``."""
        frame = self.sessions[chat_id].encrypt(payload)
        return await self.raw.send(chat_id, crypto.b64encode(frame))

    async def send_text(self, chat_id: str, text: str) -> dict[str, Any]:
        """Encrypt and send a text message into ``chat_id``."""
        return await self.send(chat_id, {"t": "text", "body": text})

    async def receive(self, chat_id: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The next decrypted message from the visitor of ``chat_id``."""
        got = self.sessions[chat_id].receive(await self._next_frame(chat_id, timeout))
        return got.payload

    async def receive_text(self, chat_id: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The body of the next text message in ``chat_id``."""
        payload = await self.receive(chat_id, timeout)
        assert payload["t"] == "text", payload["t"]
        return str(payload["body"])

    async def _next_frame(self, chat_id: str, timeout: float) -> bytes:
        while not self._pending[chat_id]:
            msg = await self.raw.expect("msg", timeout)
            cid = msg["chat_id"]
            if msg["seq"] <= self._seen[cid]:
                continue
            self._seen[cid] = msg["seq"]
            await self.raw.ack(cid, msg["seq"])
            self._pending[cid].append(_frame(msg))
        return self._pending[chat_id].popleft()


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
