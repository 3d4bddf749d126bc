"""The server keeps a box key and a drop answer only when the counsellor's own certified,
unrevoked identity key signed it (chatserver/records/proofs.py): an unsigned or wrongly signed
box key, a colleague's or another organisation's certificate, an expired or missing one are
refused with a clear error, a revoked counsellor is refused, and nothing of it is stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from chatserver import crypto
from chatserver.config import Config
from chatserver.main import create_app
from chatserver.records.schema import drops, key_grants
from chatserver.web.appkeys import ENGINE
from tests.support.drops import leave_drop, signed_answer
from tests.support.e2e_clients import Identity, Pki
from tests.support.harness import Harness
from tests.support.records import box_keypair, certify, registration, share_records_key


@pytest.fixture
def pki() -> Pki:
    return Pki()


@pytest.fixture
def revocations(tmp_path: Path, pki: Pki) -> Path:
    path = tmp_path / "revocations.json"
    path.write_text(json.dumps(pki.revocations))
    return path


async def serve(make_config: Callable[..., Config], **settings: Any
                ) -> AsyncIterator[Harness]:
    server = TestServer(create_app(make_config(**settings)))
    await server.start_server()
    harness = Harness(server.app, str(server.make_url("/")))
    yield harness
    await harness.close()
    await server.close()


@pytest.fixture
async def h(make_config: Callable[..., Config], pki: Pki, revocations: Path
            ) -> AsyncIterator[Harness]:
    """A server pinning ``pki``'s organisation key and its revocation list."""
    async for harness in serve(make_config, org_public_key=crypto.b64encode(pki.org_public_key),
                               revocations_file=str(revocations)):
        yield harness


async def box_keys(h: Harness, user_id: str) -> list[str]:
    async with h.app[ENGINE].connect() as conn:
        return [r.box_pk for r in await conn.execute(
            sa.select(key_grants.c.box_pk).where(key_grants.c.user_id == user_id))]


def signed_by(signer: Identity, certificate: dict[str, Any], box_pk: bytes) -> dict[str, Any]:
    return {"box_pk": crypto.b64encode(box_pk),
            "box_sig": crypto.b64encode(crypto.sign_box_key(signer.signing, box_pk)),
            "certificate": certificate}


async def test_only_a_box_key_the_accounts_own_certified_key_signed_is_kept(
        h: Harness, pki: Pki, revocations: Path) -> None:
    anna = await h.counsellor("anna", "Anna", on_duty=False)
    await h.counsellor("ben", "Ben", on_duty=False)
    anna_id = await certify(h, "anna", pki.identity("Anna"))
    ben_id = await certify(h, "ben", pki.identity("Ben"))
    stranger = pki.identity("Anna")  # certified by the organisation, installed for nobody
    expired = Identity(anna_id.signing, crypto.issue_certificate(
        pki.org, anna_id.public_key, "Anna", pki.now - 40 * 86400, pki.now - 86400))
    _, box_pk = box_keypair()
    forgeries = {
        "zero signature": {**anna_id.box_registration(box_pk),
                           "box_sig": crypto.b64encode(bytes(64))},
        "signed by another key": signed_by(stranger, anna_id.certificate, box_pk),
        "signed for another box key": {**anna_id.box_registration(box_keypair()[1]),
                                       "box_pk": crypto.b64encode(box_pk)},
        "a colleague's certificate": ben_id.box_registration(box_pk),
        "certified but not for this account": stranger.box_registration(box_pk),
        "another organisation": registration(box_pk),
        "expired": expired.box_registration(box_pk),
        "no certificate": {**anna_id.box_registration(box_pk), "certificate": None},
    }
    for why, forged in forgeries.items():
        refused = await anna.call("keyring_register", forged)
        assert refused.get("error") == "invalid", (why, refused)
        assert "certified" in refused["message"], (why, refused)
    assert await box_keys(h, "anna") == []

    assert (await anna.call("keyring_register", anna_id.box_registration(box_pk)))["ok"]
    assert await box_keys(h, "anna") == [crypto.b64encode(box_pk)]

    # Revoked by the organisation: refused as such, the next box key is not kept.
    pki.revoke(anna_id)
    revocations.write_text(json.dumps(pki.revocations))
    _, later = box_keypair()
    refused = await anna.call("keyring_register", anna_id.box_registration(later))
    assert refused["error"] == "forbidden" and "revoked" in refused["message"], refused
    # A revocation list that cannot be read: nothing signed is accepted until it can.
    revocations.write_text("{not json")
    refused = await anna.call("keyring_register", anna_id.box_registration(later))
    assert refused["error"] == "unavailable", refused
    assert await box_keys(h, "anna") == [crypto.b64encode(box_pk)]


async def test_a_revoked_counsellor_or_a_colleagues_signature_answers_no_drop(
        h: Harness, pki: Pki, revocations: Path) -> None:
    visitor = await h.visitor()
    await leave_drop(visitor)
    anna = await h.counsellor("anna", "Anna", on_duty=False)
    await h.counsellor("ben", "Ben", on_duty=False)
    anna_id = await certify(h, "anna", pki.identity("Anna"))
    ben_id = await certify(h, "ben", pki.identity("Ben"))
    await share_records_key(anna, identities=[anna_id])
    thread = (await anna.call("drops", {}))["items"][0]["drop_id"]
    drop = (await anna.call("drop_open", {"drop_id": thread}))["drop"]
    ask = {"drop_id": drop["drop_id"]}

    # Ben's certified signature, sent by Anna (who holds the grant): not hers.
    refused = await anna.call("drop_answer", {**ask, "answer": signed_answer(ben_id, drop, "x")})
    assert refused["error"] == "invalid" and "certified" in refused["message"], refused

    pki.revoke(anna_id)
    revocations.write_text(json.dumps(pki.revocations))
    refused = await anna.call("drop_answer", {**ask,
                                              "answer": signed_answer(anna_id, drop, "Köder")})
    assert refused["error"] == "forbidden" and "revoked" in refused["message"], refused
    async with h.app[ENGINE].connect() as conn:
        assert [r.answer for r in await conn.execute(sa.select(drops.c.answer))] == [None]


async def test_without_an_organisation_key_a_signature_must_still_fit_its_certificate(
        make_config: Callable[..., Config]) -> None:
    async for h in serve(make_config):
        anna = await h.counsellor("anna", "Anna", on_duty=False)
        _, box_pk = box_keypair()
        unsigned = {**registration(box_pk), "box_sig": crypto.b64encode(bytes(64))}
        refused = await anna.call("keyring_register", unsigned)
        assert refused["error"] == "invalid", refused
        assert await box_keys(h, "anna") == []
        assert (await anna.call("keyring_register", registration(box_pk)))["ok"]
