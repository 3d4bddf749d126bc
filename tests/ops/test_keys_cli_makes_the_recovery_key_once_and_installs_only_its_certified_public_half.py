"""``chatserver keys init-recovery`` shows the recovery secret once and writes it nowhere;
``install-recovery-cert`` takes only a certificate of the pinned organisation for a recovery
key; ``recover`` refuses before it needs a secret when there is nothing to recover with."""

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
from chatserver.records.db import migrate, open_engine
from chatserver.records.store import Keyring
from tests.support.e2e_clients import Pki


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["keys", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


async def test_the_secret_is_shown_once_and_only_a_certified_recovery_key_is_installed(
    make_config: Callable[..., Config], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    pki = Pki()
    org_file = str(keys.write_org_key(tmp_path / "org", pki.org))
    before = {p for p in tmp_path.rglob("*")}
    code, out, err = run(capsys, "init-recovery", "--org-key", org_file, "--days", "30")
    assert code == 0
    cert = json.loads(out)
    secret = next(line.strip() for line in err.splitlines() if line.startswith("  "))
    _, pk = crypto.recovery_keys(secret)
    assert cert["recovery_pk"] == crypto.b64encode(pk) and secret not in out
    assert crypto.fingerprint(pk) in err
    assert {p for p in tmp_path.rglob("*")} == before, "init-recovery wrote a file"
    # Every run makes another secret.
    _, again, _ = run(capsys, "init-recovery", "--org-key", org_file)
    assert json.loads(again)["recovery_pk"] != cert["recovery_pk"]

    pinned = make_config(org_public_key=crypto.b64encode(pki.org_public_key))
    with pytest.raises(keys.KeyFileError, match="CHATSERVER_ORG_PUBLIC_KEY"):
        await keys.install_recovery_certificate(make_config(), cert)
    other = Pki()
    foreign = crypto.issue_recovery_certificate(other.org, pk, pki.now, pki.now + 86400)
    records_pk = sodium.crypto_scalarmult_base(os.urandom(32))
    as_records = pki.records_certificate(records_pk)
    relabelled = {**{k: v for k, v in as_records.items() if k != "records_pk"},
                  "recovery_pk": as_records["records_pk"]}
    for bad in (foreign, relabelled, {**cert, "recovery_pk": crypto.b64encode(records_pk)}):
        with pytest.raises(keys.KeyFileError, match="refused"):
            await keys.install_recovery_certificate(pinned, bad)
    engine = open_engine(pinned)
    try:
        await migrate(engine)
        assert await Keyring(engine).recovery_key() == ("", None)
        with pytest.raises(keys.KeyFileError, match="no recovery key is installed"):
            await keys.recover(pinned, "anna", secret)
        await keys.install_recovery_certificate(pinned, cert)
        assert await Keyring(engine).recovery_key() == (cert["recovery_pk"], cert)
        with pytest.raises(keys.KeyFileError, match="no records key"):
            await keys.recover(pinned, "anna", secret)
    finally:
        await engine.dispose()
