"""`chatserver user`: add (password from stdin, prints the otpauth URI; a pseudonym other than
the login name), list, disable, enable, reset (refusing short passwords), certify."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.paths import ROOT


def run(tmp_path: Path, *args: str, stdin: str = "",
        settings: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "CHATSERVER_KDF_COST": "min", **(settings or {})}
    return subprocess.run([sys.executable, "-m", "chatserver", "user", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def test_user_cli_round_trip(tmp_path: Path) -> None:
    added = run(tmp_path, "add", "akeller", "--role", "counsellor", "--pseudonym", "Anna",
                stdin="ein-langes-passwort\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("otpauth://totp/Erstkontakt:akeller?secret=")
    assert "ein-langes-passwort" not in added.stdout + added.stderr
    short = run(tmp_path, "add", "ben", "--pseudonym", "Ben", stdin="kurz\n")
    assert short.returncode == 1 and "12 characters" in short.stderr
    assert run(tmp_path, "add", "akeller", "--pseudonym", "Anna",
               stdin="ein-langes-passwort\n").returncode == 1
    listed = run(tmp_path, "list")
    assert listed.stdout.split() == ["akeller", "counsellor", "Anna", "passkeys=0",
                                     "passkey-last-used=never", "active"]
    assert run(tmp_path, "disable", "akeller").returncode == 0
    assert run(tmp_path, "list").stdout.split()[-1] == "disabled"
    short = run(tmp_path, "reset", "akeller", stdin="kurz\n")
    assert short.returncode == 1 and "12 characters" in short.stderr
    reset = run(tmp_path, "reset", "akeller", stdin="ein-neues-langes-passwort\n")
    assert reset.returncode == 0 and reset.stdout.startswith("otpauth://")
    assert reset.stdout != added.stdout
    assert run(tmp_path, "disable", "nobody").returncode == 1
    assert run(tmp_path, "enable", "akeller").returncode == 0
    assert run(tmp_path, "list").stdout.split()[-1] == "active"


def test_a_pseudonym_is_required_and_gives_the_login_name_not_away(tmp_path: Path) -> None:
    missing = run(tmp_path, "add", "bschmidt", stdin="ein-langes-passwort\n")
    assert missing.returncode == 2 and "--pseudonym" in missing.stderr
    for pseudonym in ("", "  ", "bschmidt", "BSchmidt", " bschmidt "):
        refused = run(tmp_path, "add", "bschmidt", "--pseudonym", pseudonym,
                      stdin="ein-langes-passwort\n")
        assert refused.returncode == 1 and "pseudonym" in refused.stderr, pseudonym
    assert run(tmp_path, "list").stdout == ""
    assert run(tmp_path, "add", "bschmidt", "--pseudonym", "Ben",
               stdin="ein-langes-passwort\n").returncode == 0


def test_certificate_made_offline_is_installed_for_the_account(tmp_path: Path) -> None:
    import json

    from chatserver import crypto

    assert run(tmp_path, "add", "akeller", "--pseudonym", "Anna",
               stdin="ein-langes-passwort\n").returncode == 0
    org, identity = crypto.SigningSeed.generate(), crypto.SigningSeed.generate()
    cert = crypto.issue_certificate(org, identity.public_key, "Anna", 0, 2**40)
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    assert run(tmp_path, "certify", "akeller", str(path)).returncode == 0
    path.write_text("not json")
    assert run(tmp_path, "certify", "akeller", str(path)).returncode == 1
    assert run(tmp_path, "certify", "nobody", str(path)).returncode == 1


def test_list_shows_how_many_passkeys_each_account_has_and_when_one_was_last_used(
        tmp_path: Path) -> None:
    import asyncio

    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from chatserver.records.schema import passkeys, users

    for name, pseudonym in (("akeller", "Anna"), ("bschmidt", "Ben")):
        assert run(tmp_path, "add", name, "--pseudonym", pseudonym,
                   stdin="ein-langes-passwort\n").returncode == 0

    async def add_passkeys() -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
        async with engine.begin() as conn:
            anna = (await conn.execute(sa.select(users.c.id)
                                       .where(users.c.name == "akeller"))).scalar_one()
            for n, used in enumerate((None, 1_800_000_000.0, 1_700_000_000.0)):
                await conn.execute(sa.insert(passkeys).values(
                    id=f"credential-number-{n}", user_id=anna, public_key="AA", sign_count=0,
                    label="Laptop", created=1_600_000_000.0, last_used=used))
        await engine.dispose()

    asyncio.run(add_passkeys())
    lines = [line.split("\t") for line in run(tmp_path, "list").stdout.splitlines()]
    assert lines == [
        ["akeller", "counsellor", "Anna", "passkeys=3", "passkey-last-used=2027-01-15T08:00Z",
         "active"],
        ["bschmidt", "counsellor", "Ben", "passkeys=0", "passkey-last-used=never", "active"]]


def test_with_the_organisation_key_pinned_only_its_current_certificates_are_installed(
        tmp_path: Path) -> None:
    import json

    from chatserver import crypto

    org, identity = crypto.SigningSeed.generate(), crypto.SigningSeed.generate()
    pinned = {"CHATSERVER_ORG_PUBLIC_KEY": crypto.b64encode(org.public_key)}
    assert run(tmp_path, "add", "akeller", "--pseudonym", "Anna",
               stdin="ein-langes-passwort\n").returncode == 0
    now = time.time()
    path = tmp_path / "cert.json"
    for why, cert in (
        ("another organisation", crypto.issue_certificate(
            crypto.SigningSeed.generate(), identity.public_key, "Anna", 0, 2**40)),
        ("expired", crypto.issue_certificate(org, identity.public_key, "Anna", 0,
                                             int(now) - 86400)),
        ("altered", {**crypto.issue_certificate(org, identity.public_key, "Anna", 0, 2**40),
                     "pseudonym": "Ben"}),
    ):
        path.write_text(json.dumps(cert))
        refused = run(tmp_path, "certify", "akeller", str(path), settings=pinned)
        assert refused.returncode == 1 and "CHATSERVER_ORG_PUBLIC_KEY" in refused.stderr, why
    path.write_text(json.dumps(crypto.issue_certificate(org, identity.public_key, "Anna", 0,
                                                        2**40)))
    assert run(tmp_path, "certify", "akeller", str(path), settings=pinned).returncode == 0
