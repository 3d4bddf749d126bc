"""Rotation of the records key (docs/protocol.md, "Rotation of the records key"): a rotation
makes a new epoch, granted to the remaining certified counsellors only; the departed member's
key opens nothing sealed after it, while those who stay read old and new records; the new
epoch is sealed to nothing until the organisation certifies it. The offline recovery key
restores access after every grant is gone, refuses a wrong secret clearly, and neither it nor
any private key is ever in the database in the clear."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import nacl.bindings as sodium
import nacl.secret
import pytest

from chatserver import crypto
from chatserver.admin import keys
from chatserver.cli import build_parser
from chatserver.config import Config
from chatserver.web.appkeys import RECORDS, USERS
from tests.support.clients import CounsellorClient
from tests.support.e2e_clients import Identity, Pki
from tests.support.harness import Harness


def keypair() -> tuple[bytes, bytes]:
    sk = os.urandom(32)
    return sk, sodium.crypto_scalarmult_base(sk)


@dataclass
class Member:
    """A counsellor's console as far as keys go: socket, identity, box key."""

    client: CounsellorClient
    identity: Identity
    box_sk: bytes
    box_pk: bytes

    async def records_secrets(self) -> tuple[dict[str, Any], list[bytes]]:
        """The keyring answer and every epoch's secret this console opens, oldest first."""
        status = await self.client.call("keyring", {"box_pk": crypto.b64encode(self.box_pk)})
        sealed = status["me"]["sealed"]
        assert sealed, "no grant"
        newest = crypto.open_sealed(self.box_sk, self.box_pk, crypto.b64decode(sealed))
        chain = [(crypto.b64decode(e["public_key"]),
                  crypto.b64decode(e["link"]) if e["link"] else None) for e in status["epochs"]]
        return status, crypto.open_epochs(newest, chain)


async def member(h: Harness, pki: Pki, name: str, role: str = "counsellor") -> Member:
    client = CounsellorClient(h.url, await h.token(name, role=role, pseudonym=name.title()))
    await client.connect()
    h.track(client)
    assert (await client.duty(True))["ok"]
    identity = pki.identity(name.title())
    box_sk, box_pk = keypair()
    assert (await client.call("keyring_register", identity.box_registration(box_pk)))["ok"]
    return Member(client, identity, box_sk, box_pk)


async def file_sealed(h: Harness, counsellor: CounsellorClient, records_pk: bytes,
                      text: str) -> str:
    """A chat, the visitor's yes and the hand-off of a record sealed as the console seals it."""
    visitor = await h.visitor()
    assert (await visitor.request())["ok"]
    assert (await counsellor.accept(visitor.chat_id))["ok"]
    await visitor.expect("accepted")
    assert (await visitor.call("consent", {"answer": "yes", "version": "v2"}))["ok"]
    record_key = os.urandom(32)
    body = nacl.secret.SecretBox(record_key).encrypt(crypto.pad(text.encode()))
    answer = await counsellor.call("handoff", {
        "chat_id": visitor.chat_id, "consent_version": "v2",
        "sealed_key": crypto.b64encode(crypto.seal(records_pk, record_key)),
        "body": crypto.b64encode(bytes(body))})
    assert answer["ok"], answer
    assert (await visitor.end())["ok"]
    return str(answer["record_id"])


async def read(m: Member, record_id: str, secrets: list[bytes], status: dict[str, Any]) -> str:
    opened = await m.client.call("record_open", {"record_id": record_id, "export": False})
    assert opened["ok"], opened
    keys_ = [(sk, crypto.b64decode(e["public_key"]))
             for sk, e in zip(secrets, status["epochs"], strict=True)][::-1]
    record_key = crypto.open_sealed_any(keys_, crypto.b64decode(opened["record"]["sealed_key"]))
    plain = nacl.secret.SecretBox(record_key).decrypt(crypto.b64decode(opened["record"]["body"]))
    return crypto.unpad(plain).decode()


async def served_records_key(h: Harness) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(h.url + "/api/records-key") as resp:
        data: dict[str, Any] = await resp.json()
        return data


async def rotate(admin: Member, pki: Pki, status: dict[str, Any], current_sk: bytes,
                 recovery: dict[str, Any] | None = None) -> tuple[bytes, bytes, dict[str, Any]]:
    """What the rotating console does: a new pair, the link from the current epoch, a grant to
    every box key whose proof holds."""
    new_sk, new_pk = keypair()
    grants = []
    for m in status["members"]:
        crypto.verify_box_key(m["certificate"], m["box_pk"], m["box_sig"], pki.org_public_key,
                              pki.now)
        grants.append({"user_id": m["user_id"], "box_pk": m["box_pk"], "sealed": crypto.b64encode(
            crypto.seal(crypto.b64decode(m["box_pk"]), new_sk))})
    payload: dict[str, Any] = {
        "epoch": status["epoch"] + 1, "records_pk": crypto.b64encode(new_pk),
        "link": crypto.b64encode(crypto.seal(new_pk, current_sk)), "grants": grants}
    if recovery is not None:
        payload["recovery"] = recovery
    return new_sk, new_pk, payload


async def test_a_rotation_shuts_out_the_departed_and_the_others_still_read_everything(
    harness: Harness, make_config: Callable[..., Config],
) -> None:
    pki = Pki()
    pinned = make_config(org_public_key=crypto.b64encode(pki.org_public_key))
    anna = await member(harness, pki, "anna", role="admin")
    ben = await member(harness, pki, "ben")
    carl = await member(harness, pki, "carl")
    sk1, pk1 = keypair()
    assert (await anna.client.call("keyring_init", {
        "records_pk": crypto.b64encode(pk1),
        "sealed": crypto.b64encode(crypto.seal(anna.box_pk, sk1))}))["ok"]
    for name, m in (("ben", ben), ("carl", carl)):
        assert (await anna.client.call("keyring_grant", {
            "user_id": name, "box_pk": crypto.b64encode(m.box_pk), "epoch": 1,
            "sealed": crypto.b64encode(crypto.seal(m.box_pk, sk1))}))["ok"]
    await keys.install_records_certificate(pinned, pki.records_certificate(pk1))
    old_record = await file_sealed(harness, anna.client, pk1, "vor dem Weggang")

    # Ben leaves. What he holds he keeps: his grant, and so epoch 1's secret.
    _, bens = await ben.records_secrets()
    assert bens == [sk1]
    await harness.app[USERS].set_disabled("ben", True)

    # Carl's second device holds epoch 1 as well; the rotation below leaves it out.
    _, second_pk = keypair()
    assert (await carl.client.call("keyring_register",
                                   carl.identity.box_registration(second_pk)))["ok"]
    assert (await anna.client.call("keyring_grant", {
        "user_id": "carl", "box_pk": crypto.b64encode(second_pk), "epoch": 1,
        "sealed": crypto.b64encode(crypto.seal(second_pk, sk1))}))["ok"]

    # Only an administrator holding the key rotates; Carl holds it but is not one.
    status, (current,) = await anna.records_secrets()
    assert status["epoch"] == 1 and [m["user_id"] for m in status["members"]] != []
    assert "ben" not in {m["user_id"] for m in status["members"]}
    sk2, pk2, payload = await rotate(anna, pki, status, current)
    payload["grants"] = [g for g in payload["grants"]
                         if g["box_pk"] != crypto.b64encode(second_pk)]
    stranger = keypair()[1]
    unknown = {**payload, "grants": [*payload["grants"], {
        "user_id": "carl", "box_pk": crypto.b64encode(stranger),
        "sealed": crypto.b64encode(crypto.seal(stranger, sk2))}]}
    assert (await anna.client.call("keyring_rotate", unknown))["error"] == "not_found"
    assert (await carl.client.call("keyring_rotate", payload))["error"] == "forbidden"
    assert (await anna.client.call("keyring_rotate", {**payload, "epoch": 3}))["error"] == \
        "conflict"
    without_me = {**payload, "grants": [g for g in payload["grants"] if g["user_id"] != "anna"]}
    assert (await anna.client.call("keyring_rotate", without_me))["error"] == "bad_state"
    assert (await anna.client.call("keyring_rotate", payload))["ok"]
    assert (await anna.client.call("keyring_rotate", payload))["error"] == "conflict"

    # The box key left out holds no grant any more: it waits for one of the new epoch.
    left_out = await carl.client.call("keyring", {"box_pk": crypto.b64encode(second_pk)})
    assert left_out["me"]["sealed"] == ""
    assert crypto.b64encode(second_pk) in {p["box_pk"] for p in left_out["pending"]}

    # The new epoch is served, uncertified: widget and console seal nothing to it yet.
    served = await served_records_key(harness)
    assert served == {"records_pk": crypto.b64encode(pk2), "certificate": None}
    with pytest.raises(crypto.CertificateError):
        crypto.verify_records_key(served["records_pk"], served["certificate"],
                                  pki.org_public_key, pki.now)
    # Nor does the retired epoch's certificate vouch for the new key.
    with pytest.raises(crypto.CertificateError):
        crypto.verify_records_key(served["records_pk"], pki.records_certificate(pk1),
                                  pki.org_public_key, pki.now)
    # A console loaded before the rotation cannot grant the retired epoch any more.
    dora = await member(harness, pki, "dora")
    assert (await carl.client.call("keyring_grant", {
        "user_id": "dora", "box_pk": crypto.b64encode(dora.box_pk), "epoch": 1,
        "sealed": crypto.b64encode(crypto.seal(dora.box_pk, sk1))}))["error"] == "conflict"

    await keys.install_records_certificate(pinned, pki.records_certificate(pk2))
    served = await served_records_key(harness)
    assert crypto.verify_records_key(served["records_pk"], served["certificate"],
                                     pki.org_public_key, pki.now) == pk2
    new_record = await file_sealed(harness, carl.client, pk2, "nach dem Weggang")

    # Ben's copy of epoch 1 opens nothing sealed after the rotation.
    opened = await anna.client.call("record_open", {"record_id": new_record, "export": False})
    with pytest.raises(crypto.TamperedFrame):
        crypto.open_sealed_any([(sk1, pk1)], crypto.b64decode(opened["record"]["sealed_key"]))

    # Those who stay read old and new records through the new epoch's grant alone.
    for m in (anna, carl):
        status, secrets = await m.records_secrets()
        assert status["epoch"] == 2 and secrets == [sk1, sk2]
        assert await read(m, old_record, secrets, status) == "vor dem Weggang"
        assert await read(m, new_record, secrets, status) == "nach dem Weggang"
    # Dora, enrolled after the rotation, is granted epoch 2 and reads both too.
    assert (await carl.client.call("keyring_grant", {
        "user_id": "dora", "box_pk": crypto.b64encode(dora.box_pk), "epoch": 2,
        "sealed": crypto.b64encode(crypto.seal(dora.box_pk, sk2))}))["ok"]
    status, secrets = await dora.records_secrets()
    assert await read(dora, old_record, secrets, status) == "vor dem Weggang"

    trail = [(e.user_id, e.action, e.refused) for e in await harness.app[RECORDS].audit_log()]
    assert ("anna", "rotate", False) in trail and ("carl", "rotate", True) in trail


def run_keys(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["keys", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


async def test_the_recovery_secret_restores_access_after_every_grant_is_gone(
    harness: Harness, make_config: Callable[..., Config], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pki = Pki()
    pinned = make_config(org_public_key=crypto.b64encode(pki.org_public_key))
    org_file = str(keys.write_org_key(tmp_path / "org", pki.org))

    # The key ceremony: the secret is shown once, the certificate goes to the server.
    code, out, err = run_keys(capsys, "init-recovery", "--org-key", org_file)
    assert code == 0
    (secret,) = re.findall(r"^\s+([0-9a-z]{4}(?:-[0-9a-z]{4}){7})$", err, re.MULTILINE)
    cert_file = tmp_path / "recovery-cert.json"
    cert_file.write_text(out)
    assert secret not in out
    await keys.install_recovery_certificate(pinned, json.loads(out))
    _, recovery_pk = crypto.recovery_keys(secret)

    anna = await member(harness, pki, "anna", role="admin")
    sk1, pk1 = keypair()
    assert (await anna.client.call("keyring_init", {
        "records_pk": crypto.b64encode(pk1),
        "sealed": crypto.b64encode(crypto.seal(anna.box_pk, sk1))}))["ok"]
    await keys.install_records_certificate(pinned, pki.records_certificate(pk1))
    record = await file_sealed(harness, anna.client, pk1, "alles verloren?")

    # Anna's console checks the recovery key's certificate and seals epoch 1 to it.
    status, _ = await anna.records_secrets()
    served = status["recovery"]
    assert crypto.verify_recovery_key(served["recovery_pk"], served["certificate"],
                                      pki.org_public_key, pki.now) == recovery_pk
    forged_pk = keypair()[1]
    assert (await anna.client.call("keyring_recovery", {
        "epoch": 1, "recovery_pk": crypto.b64encode(forged_pk),
        "sealed": crypto.b64encode(crypto.seal(forged_pk, sk1))}))["error"] == "conflict"
    assert (await anna.client.call("keyring_recovery", {
        "epoch": 1, "recovery_pk": served["recovery_pk"],
        "sealed": crypto.b64encode(crypto.seal(recovery_pk, sk1))}))["ok"]
    # A rotation seals the new epoch to the recovery key in the same step.
    status, (current,) = await anna.records_secrets()
    sk2, pk2, payload = await rotate(anna, pki, status, current)
    payload["recovery"] = {"epoch": 2, "recovery_pk": served["recovery_pk"],
                           "sealed": crypto.b64encode(crypto.seal(recovery_pk, sk2))}
    assert (await anna.client.call("keyring_rotate", payload))["ok"]
    await keys.install_records_certificate(pinned, pki.records_certificate(pk2))
    status = await anna.client.call("keyring", {})
    assert [e["recovery_pk"] for e in status["epochs"]] == [served["recovery_pk"]] * 2

    # Every device is lost: the only holder is reset, nobody holds a grant any more.
    await harness.app[USERS].reset("anna", "ein neues langes Passwort 1")
    dora = await member(harness, pki, "dora")
    assert (await dora.client.call("keyring", {}))["me"]["sealed"] == ""

    # A wrong secret is refused clearly, and nothing changes.
    for wrong in ("0000-0000-0000-0000-0000-0000-0000-0000", "not a secret"):
        with pytest.raises(keys.KeyFileError, match=r"refused.*nothing was changed"):
            await keys.recover(pinned, "dora", wrong)
    assert (await dora.client.call("keyring", {}))["me"]["sealed"] == ""
    with pytest.raises(keys.KeyFileError, match="no enabled account"):
        await keys.recover(pinned, "anna-gibt-es-nicht", secret)

    granted = await keys.recover(pinned, "dora", secret.upper().replace("-", " "))
    assert granted == [crypto.fingerprint(dora.box_pk)]
    status, secrets = await dora.records_secrets()
    assert secrets == [sk1, sk2]
    assert await read(dora, record, secrets, status) == "alles verloren?"

    # Neither the recovery secret nor any private key is in the database in the clear.
    path = Path(pinned.database_url.removeprefix("sqlite:///"))
    database = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert b"records_epochs" in database
    recovery_sk, _ = crypto.recovery_keys(secret)
    canaries = [secret, secret.replace("-", ""), secret.upper()]
    for key in (recovery_sk, sk1, sk2, anna.box_sk, dora.box_sk, pki.org.seed()):
        canaries += [crypto.b64encode(key), key.hex()]
    for canary in canaries:
        assert canary.encode() not in database, "a secret is in the database"
    for key in (recovery_sk, sk1, sk2, dora.box_sk):
        assert key not in database
