"""``chatserver keys``: a private org key, certificates and revocation lists visitors accept."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from chatserver import crypto
from chatserver.cli import build_parser
from tests.support.e2e_clients import Identity


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["keys", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def org_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, bytes]:
    code, out, _ = run(capsys, "init-org", "--out", str(tmp_path / "org"))
    assert code == 0
    return tmp_path / "org", crypto.b64decode(out.strip())


def test_init_org_writes_a_private_key_file_and_prints_only_the_public_key(
    org_dir: tuple[Path, bytes], capsys: pytest.CaptureFixture[str],
) -> None:
    directory, public_key = org_dir
    key_file = directory / "org-signing-key.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    seed = json.loads(key_file.read_text())["seed"]
    code, out, err = run(capsys, "show-public", "--org-key", str(key_file))
    assert code == 0 and crypto.b64decode(out.strip()) == public_key
    assert seed not in out + err
    # A fresh, signed, empty revocation list comes with it.
    revocations = json.loads((directory / "revocations.json").read_text())
    assert crypto.verify_revocation_list(revocations, public_key, revocations["issued"]) \
        == frozenset()
    # Never over an existing key.
    code, _, err = run(capsys, "init-org", "--out", str(directory))
    assert code == 2 and "refusing" in err
    assert json.loads(key_file.read_text())["seed"] == seed


def test_a_key_file_others_can_read_is_refused(
    org_dir: tuple[Path, bytes], capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = org_dir[0] / "org-signing-key.json"
    key_file.chmod(0o640)
    code, out, err = run(capsys, "show-public", "--org-key", str(key_file))
    assert code == 2 and not out and "chmod 600" in err


def test_certify_prints_a_certificate_visitors_accept(
    org_dir: tuple[Path, bytes], capsys: pytest.CaptureFixture[str],
) -> None:
    directory, org_public_key = org_dir
    counsellor = crypto.SigningSeed.generate()
    code, out, _ = run(capsys, "certify", "--org-key", str(directory / "org-signing-key.json"),
                       "--pubkey", crypto.b64encode(counsellor.public_key),
                       "--pseudonym", "Jörg", "--days", "30")
    assert code == 0
    cert = json.loads(out)
    assert cert["pseudonym"] == "Jörg" and cert["expires"] - cert["issued"] == 30 * 86400
    revocations = json.loads((directory / "revocations.json").read_text())
    visitor = crypto.VisitorSession(org_public_key, "chat-1", revocations)
    session = crypto.CounsellorSession(counsellor, cert, "chat-1")
    reply = session.receive(visitor.hello()).reply
    assert reply is not None
    assert visitor.receive(reply).payload["pseudonym"] == "Jörg"

    code, _, err = run(capsys, "certify", "--org-key", str(directory / "org-signing-key.json"),
                       "--pubkey", "bm90IGEga2V5", "--pseudonym", "X", "--days", "30")
    assert code == 2 and "--pubkey" in err


def test_revoke_adds_keys_and_re_signs_the_list(
    org_dir: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    directory, org_public_key = org_dir
    key_file = str(directory / "org-signing-key.json")
    listed = tmp_path / "public" / "revocations.json"
    identities = []
    for name in ("Anna", "Bert"):
        signing = crypto.SigningSeed.generate()
        code, out, _ = run(capsys, "certify", "--org-key", key_file, "--pubkey",
                           crypto.b64encode(signing.public_key), "--pseudonym", name)
        identities.append(Identity(signing, json.loads(out)))
    anna, bert = identities
    for who in (anna, bert):
        code, _, _ = run(capsys, "revoke", "--org-key", key_file, "--list", str(listed),
                         "--pubkey", crypto.b64encode(who.public_key))
        assert code == 0
    data = json.loads(listed.read_text())
    assert crypto.verify_revocation_list(data, org_public_key, data["issued"]) \
        == {anna.public_key, bert.public_key}
    visitor = crypto.VisitorSession(org_public_key, "chat-1", data)
    reply = crypto.CounsellorSession(anna.signing, anna.certificate, "chat-1").receive(
        visitor.hello()).reply
    assert reply is not None
    with pytest.raises(crypto.RevokedCertificate):
        visitor.receive(reply)

    # A list someone else signed is not extended.
    other = tmp_path / "other"
    run(capsys, "init-org", "--out", str(other))
    code, _, err = run(capsys, "revoke", "--org-key", str(other / "org-signing-key.json"),
                       "--list", str(listed))
    assert code == 2 and "not signed" in err
