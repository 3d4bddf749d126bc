"""``chatserver keys certify-records`` signs the team's records public key with the offline org
key; ``install-records-cert`` puts such a certificate into the database only if it is signed
by the pinned org key and names the records key the team has."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import nacl.bindings as sodium
import pytest

from chatserver import crypto
from chatserver.admin import keys
from chatserver.cli import build_parser
from chatserver.config import Config
from chatserver.records.accounts import Users
from chatserver.records.db import migrate, open_engine
from chatserver.records.kdf import KDF_COSTS
from chatserver.records.store import Keyring
from tests.support.e2e_clients import Pki


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["keys", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def x25519() -> bytes:
    return sodium.crypto_scalarmult_base(os.urandom(32))


def org_key_file(tmp_path: Path, pki: Pki) -> str:
    return str(keys.write_org_key(tmp_path / "org", pki.org))


def test_certify_records_prints_a_certificate_of_exactly_that_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    pki, records_pk = Pki(), x25519()
    code, out, err = run(capsys, "certify-records", "--org-key", org_key_file(tmp_path, pki),
                         "--records-pk", crypto.b64encode(records_pk), "--days", "30")
    assert code == 0 and crypto.fingerprint(records_pk) in err
    cert = json.loads(out)
    assert cert["expires"] - cert["issued"] == 30 * 86400
    assert crypto.verify_records_key(crypto.b64encode(records_pk), cert, pki.org_public_key,
                                     cert["issued"]) == records_pk
    # Not for any other key, and never taken for a counsellor certificate.
    with pytest.raises(crypto.CertificateError):
        crypto.verify_records_key(crypto.b64encode(x25519()), cert, pki.org_public_key,
                                  cert["issued"])
    with pytest.raises(crypto.CertificateError):
        crypto.verify_certificate({**cert, "key": cert["records_pk"], "pseudonym": "X"},
                                  pki.org_public_key, cert["issued"])

    code, out, err = run(capsys, "certify-records", "--org-key",
                         str(tmp_path / "org" / keys.KEY_FILE), "--records-pk", "bm90IGEga2V5")
    assert code == 2 and not out and "--records-pk" in err


async def test_install_takes_only_a_certificate_of_the_pinned_org_for_the_teams_key(
    make_config: Callable[..., Config],
) -> None:
    pki, records_pk = Pki(), x25519()
    pinned = make_config(org_public_key=crypto.b64encode(pki.org_public_key))
    good = crypto.issue_records_certificate(pki.org, records_pk, pki.now, pki.now + 86400)

    with pytest.raises(keys.KeyFileError, match="CHATSERVER_ORG_PUBLIC_KEY"):
        await keys.install_records_certificate(make_config(), good)
    with pytest.raises(keys.KeyFileError, match="no records key yet"):
        await keys.install_records_certificate(pinned, good)

    engine = open_engine(pinned)
    try:
        await migrate(engine)
        users = Users(engine, *KDF_COSTS["min"])
        await users.add("akeller", "counsellor", "ein-langes-passwort", "Anna")
        anna = (await users.find("akeller")).id  # type: ignore[union-attr]
        keyring = Keyring(engine)
        await keyring.register(anna, crypto.b64encode(x25519()), "", None)
        await keyring.init(anna, crypto.b64encode(records_pk), "R1JBTlQ=", 0.0)

        other_org = Pki()
        for refused in (
            crypto.issue_records_certificate(other_org.org, records_pk, pki.now,
                                             pki.now + 86400),
            crypto.issue_records_certificate(pki.org, x25519(), pki.now, pki.now + 86400),
            {**good, "expires": good["expires"] + 1},
        ):
            with pytest.raises(keys.KeyFileError, match="refused"):
                await keys.install_records_certificate(pinned, refused)
            assert await keyring.records_key() == (crypto.b64encode(records_pk), None)

        fp = await keys.install_records_certificate(pinned, good)
        assert fp == crypto.fingerprint(records_pk)
        assert await keyring.records_key() == (crypto.b64encode(records_pk), good)
    finally:
        await engine.dispose()
