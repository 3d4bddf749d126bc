"""`chatserver user`: add (password from stdin, prints the otpauth URI), list, disable, reset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT


def run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "CHATSERVER_KDF_COST": "min"}
    return subprocess.run([sys.executable, "-m", "chatserver", "user", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def test_user_cli_round_trip(tmp_path: Path) -> None:
    added = run(tmp_path, "add", "anna", "--role", "counsellor", "--pseudonym", "Anna",
                stdin="ein-langes-passwort\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("otpauth://totp/Erstkontakt:anna?secret=")
    assert "ein-langes-passwort" not in added.stdout + added.stderr
    short = run(tmp_path, "add", "ben", stdin="kurz\n")
    assert short.returncode == 1 and "12 characters" in short.stderr
    assert run(tmp_path, "add", "anna", stdin="ein-langes-passwort\n").returncode == 1
    listed = run(tmp_path, "list")
    assert listed.stdout.split() == ["anna", "counsellor", "Anna", "active"]
    assert run(tmp_path, "disable", "anna").returncode == 0
    assert run(tmp_path, "list").stdout.split()[-1] == "disabled"
    reset = run(tmp_path, "reset", "anna", stdin="ein-neues-langes-passwort\n")
    assert reset.returncode == 0 and reset.stdout.startswith("otpauth://")
    assert reset.stdout != added.stdout
    assert run(tmp_path, "disable", "nobody").returncode == 1


def test_certificate_made_offline_is_installed_for_the_account(tmp_path: Path) -> None:
    import json

    from chatserver import crypto

    assert run(tmp_path, "add", "anna", stdin="ein-langes-passwort\n").returncode == 0
    org, identity = crypto.SigningSeed.generate(), crypto.SigningSeed.generate()
    cert = crypto.issue_certificate(org, identity.public_key, "Anna", 0, 2**40)
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    assert run(tmp_path, "certify", "anna", str(path)).returncode == 0
    path.write_text("not json")
    assert run(tmp_path, "certify", "anna", str(path)).returncode == 1
    assert run(tmp_path, "certify", "nobody", str(path)).returncode == 1
