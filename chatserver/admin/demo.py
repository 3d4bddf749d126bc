"""Demo mode (``make run``) only: an organisation key kept next to the server, for trying out.

In production the organisation key is generated and kept offline (``chatserver keys``); a
server holding it could certify itself a counsellor. Demo mode says so on every page.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import secrets
import stat
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from chatserver import crypto
from chatserver.admin import keys
from chatserver.config import PROJECT_ROOT, Config
from chatserver.records.accounts import Users
from chatserver.records.store import Keyring
from chatserver.stats.counters import (
    DURATION_BUCKETS,
    ENTRIES,
    LANGS,
    WAIT_BUCKETS,
    StatsStore,
    bucket,
)

CERT_DAYS = 30
RECORDS_CERT_DAYS = 365
# The demo accounts' passwords, kept so that a restart does not lock anyone out.
PASSWORDS_FILE = "demo-passwords.json"


def demo_dir(config: Config) -> Path:
    """Where the demo organisation key and the demo passwords live: next to the SQLite file,
    under ``var/``."""
    base = config.sqlite_path.parent if config.sqlite_path else PROJECT_ROOT / "var"
    return base / "demo-org"


def _org(config: Config) -> crypto.SigningSeed:
    path = demo_dir(config) / keys.KEY_FILE
    if path.exists():
        return keys.load_org_key(path)
    org = crypto.SigningSeed.generate()
    keys.write_org_key(demo_dir(config), org)
    return org


def prepare(config: Config) -> Config:
    """Pin the demo org key and a freshly signed revocation list, unless already configured."""
    if not config.demo or config.org_public_key:
        return config
    org = _org(config)
    revocations = demo_dir(config) / keys.REVOCATIONS_FILE
    keys.write_public_json(revocations, crypto.issue_revocation_list(org, int(time.time()), []))
    return dataclasses.replace(config, org_public_key=crypto.b64encode(org.public_key),
                               revocations_file=str(revocations))


def certify(config: Config, identity_public_key: bytes, pseudonym: str) -> dict[str, Any]:
    """Certify a counsellor's identity key with the demo org key (demo mode only)."""
    if not config.demo:
        raise PermissionError("certificates are issued offline outside demo mode")
    now = int(time.time())
    return crypto.issue_certificate(_org(config), identity_public_key, pseudonym,
                                    now - 60, now + CERT_DAYS * 86400)


def certify_records(config: Config, records_pk: bytes) -> dict[str, Any]:
    """Certify the team's records public key with the demo org key (demo mode only)."""
    if not config.demo:
        raise PermissionError("the records key is certified offline outside demo mode")
    now = int(time.time())
    return crypto.issue_records_certificate(_org(config), records_pk, now - 60,
                                            now + RECORDS_CERT_DAYS * 86400)


async def recertify_records_key(config: Config, keyring: Keyring) -> bool:
    """Demo start: give a records key made before certificates (or whose certificate is for
    another demo org key, or runs out within a month) a fresh one; True if it did."""
    records_pk, certificate = await keyring.records_key()
    if not records_pk:
        return False
    org = _org(config)
    try:
        crypto.verify_records_key(records_pk, certificate, org.public_key,
                                  int(time.time()) + 30 * 86400)
        return False
    except crypto.CertificateError:
        pass
    try:
        fresh = certify_records(config, crypto.b64decode(records_pk))
    except crypto.CryptoError:
        return False  # not a key at all: nothing to certify, the consoles say so
    await keyring.set_records_certificate(fresh)
    return True


async def seed_statistics(store: StatsStore, now: float) -> bool:
    """Twelve weeks of made-up counters, so the statistics page has something to show.

    Only into an empty statistics store; returns True if it seeded. Deterministic, so the
    demo looks the same every time.
    """
    if await store.daily(date(2000, 1, 1), date(2100, 1, 1)):
        return False
    rng = random.Random(4711)  # noqa: S311 - made-up demo numbers, no secret
    start = (int(now) // 3600 - 12 * 7 * 24) * 3600
    hours: dict[str, dict[str, int]] = {}
    for h in range(12 * 7 * 24):
        at = start + h * 3600
        local = datetime.fromtimestamp(at, store.tz)
        busy = (9 <= local.hour < 17 and local.weekday() < 5) or 19 <= local.hour < 23
        counts: dict[str, int] = {}
        for _ in range(rng.choice((0, 0, 1, 2)) if busy else rng.choice((0, 0, 0, 0, 1))):
            entry = rng.choices(ENTRIES, (6, 3, 2, 1))[0]
            lang = rng.choices(LANGS, (9, 1))[0]
            base = f"{entry}|{lang}"
            counts[f"requested|{base}"] = counts.get(f"requested|{base}", 0) + 1
            wait = rng.expovariate(1 / 240)
            if rng.random() < 0.85:
                key = f"accepted|{base}|{bucket(wait, WAIT_BUCKETS)}"
                ended = f"ended|{base}|{bucket(rng.expovariate(1 / 1500), DURATION_BUCKETS)}"
                counts[key] = counts.get(key, 0) + 1
                counts[ended] = counts.get(ended, 0) + 1
                if rng.random() < 0.2:
                    counts[f"handed_off|{base}"] = counts.get(f"handed_off|{base}", 0) + 1
            else:
                key = f"abandoned|{base}|{bucket(wait, WAIT_BUCKETS)}"
                counts[key] = counts.get(key, 0) + 1
        if counts:
            hours[datetime.fromtimestamp(at, UTC).strftime("%Y%m%d%H")] = counts
    await store.add(hours)
    return True


def _kept_passwords(config: Config) -> dict[str, str]:
    """The demo accounts' passwords, as kept under ``var/`` (mode 0600)."""
    path = demo_dir(config) / PASSWORDS_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return {}  # none yet, or a damaged file: new passwords, written over it
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        path.chmod(0o600)
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _keep_passwords(config: Config, passwords: dict[str, str]) -> None:
    directory = demo_dir(config)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".passwords-")  # created with mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(passwords, fh)
        fh.write("\n")
    os.replace(tmp, directory / PASSWORDS_FILE)


async def seed_demo_user(config: Config, accounts: Users, name: str = "demo",
                         role: str = "counsellor", pseudonym: str = "Lena",
                         ) -> tuple[str, str, str]:
    """Demo mode: an account (by default the counsellor ``demo``) whose password stays the
    same from one start to the next; returns name, password, TOTP URI.

    The password is made once and kept next to the demo org key, and is not one-time: demo
    accounts are for trying out. An existing account keeps its TOTP secret, sessions and
    keys, unless its password is not the kept one (a ``var/`` from before passwords were
    kept, or a reset by hand): then it is reset to it once. The console's keys are unlocked
    as everywhere, with a passkey or a key passphrase the person trying it out chooses at
    the first sign-in (never printed, never kept here); consoles from before revision 0007
    open their old keys once with this password.
    """
    passwords = _kept_passwords(config)
    password = passwords.get(name, "")
    if len(password) < 12:
        password = passwords[name] = secrets.token_urlsafe(12)
        _keep_passwords(config, passwords)
    try:
        uri = await accounts.add(name, role, password, pseudonym=pseudonym)
    except sa.exc.IntegrityError:
        if await accounts.check_password(name, password):
            uri = await accounts.totp_uri(name)
        else:
            # The printed password stays the account's: demo accounts are for trying out.
            uri = await accounts.reset(name, password, one_time=False)
    return name, password, uri
