"""Case records for tests: grants of the team's records key (records are listed, opened,
annotated, deleted and restored only by accounts that hold one, ``chatserver/records/store.py``),
a record filed at hand-off, an administrator's console."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nacl.bindings as sodium
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver import crypto
from chatserver.records.schema import key_grants
from chatserver.records.store import RecordStore
from chatserver.web.appkeys import USERS
from tests.support.accounts import ensure_account
from tests.support.clients import CounsellorClient, sealed_record
from tests.support.e2e_clients import Identity, Pki
from tests.support.harness import Harness


def box_keypair() -> tuple[bytes, bytes]:
    """An X25519 key pair, as a console makes its box key."""
    secret = os.urandom(32)
    return secret, sodium.crypto_scalarmult_base(secret)


def registration(box_pk: bytes) -> dict[str, Any]:
    """``keyring_register`` as a certified console sends it (the server stores the proof;
    consoles check it before granting)."""
    return Pki().identity().box_registration(box_pk)


async def certify(h: Harness, name: str, identity: Identity) -> Identity:
    """``identity``'s certificate installed for the account ``name``, as ``chatserver user
    certify`` does: where the server pins the organisation key, it accepts box keys and drop
    answers only signed by the account's own certified key."""
    await h.app[USERS].set_certificate(name, json.dumps(identity.certificate))
    return identity


async def share_records_key(first: CounsellorClient, *colleagues: CounsellorClient,
                            identities: Sequence[Identity] = ()) -> bytes:
    """The team's records key made in ``first``'s console and granted to each colleague, through
    the keyring events as consoles do (the team must not have a key yet); returns its secret.
    ``identities``: the certified identities of ``first`` and the colleagues, in order (a
    throwaway organisation's otherwise, enough for a server that pins none)."""
    records_sk, records_pk = box_keypair()
    _, first_pk = box_keypair()
    proofs = [i.box_registration for i in identities] or \
        [registration] * (1 + len(colleagues))
    assert (await first.call("keyring_register", proofs[0](first_pk)))["ok"]
    assert (await first.call("keyring_init", {
        "records_pk": crypto.b64encode(records_pk),
        "sealed": crypto.b64encode(crypto.seal(first_pk, records_sk))}))["ok"]
    for colleague, proof in zip(colleagues, proofs[1:], strict=True):
        _, pk = box_keypair()
        assert (await colleague.call("keyring_register", proof(pk)))["ok"]
        # The holder's console learns who waits, and for which box key, from the keyring.
        pending = (await first.call("keyring", {}))["pending"]
        me = next(p["user_id"] for p in pending if p["box_pk"] == crypto.b64encode(pk))
        assert (await first.call("keyring_grant", {
            "user_id": me, "sealed": crypto.b64encode(crypto.seal(pk, records_sk))}))["ok"]
    return records_sk


async def grant_in_store(store: RecordStore, first: str, *colleagues: str, now: float) -> None:
    """The same straight through the store, for accounts made by name if missing (the team must
    not have a key yet; the key material is random, the server never opens it)."""
    records_sk, records_pk = box_keypair()
    for name in (first, *colleagues):
        await ensure_account(store.engine, name, f"Beraterin {name}", "counsellor")
        _, pk = box_keypair()
        proof = registration(pk)
        await store.keyring.register(name, proof["box_pk"], proof["box_sig"], proof["certificate"])
        sealed = crypto.b64encode(crypto.seal(pk, records_sk))
        if name == first:
            await store.keyring.init(name, crypto.b64encode(records_pk), sealed, now)
        else:
            await store.keyring.grant(first, name, sealed, now)


async def give_grant(engine: AsyncEngine, name: str) -> None:
    """A grant row for the account ``name`` (made if missing), written straight into the
    database, for store tests that set up the team's key themselves later."""
    await ensure_account(engine, name, f"Beraterin {name}", "counsellor")
    _, pk = box_keypair()
    async with engine.begin() as conn:
        await conn.execute(sa.insert(key_grants).values(
            user_id=name, box_pk=crypto.b64encode(pk),
            sealed_records_sk=crypto.b64encode(os.urandom(80)), granted_by=name,
            granted_at=time.time()))


@dataclass(frozen=True)
class Filed:
    """A case record filed at hand-off, and the codename its visitor got."""

    record_id: str
    codename: str


async def file_record(h: Harness, counsellor: CounsellorClient) -> Filed:
    """A visitor's chat with ``counsellor`` (on duty), a yes to the consent text, the hand-off,
    and the visitor gone again: the record is owned by ``counsellor``."""
    visitor = await h.visitor()
    assert (await visitor.request())["ok"]
    assert (await counsellor.accept(visitor.chat_id))["ok"]
    await visitor.expect("accepted")
    assert (await visitor.call("consent", {"answer": "yes", "version": "v2"}))["ok"]
    key, body = sealed_record()
    answer = await counsellor.call("handoff", {"chat_id": visitor.chat_id,
                                               "consent_version": "v2", "sealed_key": key,
                                               "body": body})
    assert answer["ok"], answer
    codename = (await visitor.expect("codename"))["codename"]
    assert (await visitor.end())["ok"]
    return Filed(answer["record_id"], codename)


async def admin(h: Harness, name: str) -> CounsellorClient:
    """An administrator's console socket (closed at teardown)."""
    client = CounsellorClient(h.url, await h.token(name, role="admin", pseudonym="Admin"))
    await client.connect()
    h.track(client)
    return client
