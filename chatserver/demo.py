"""Demo mode (``make run``) only: an organisation key kept next to the server, for trying out.

In production the organisation key is generated and kept offline (``chatserver keys``); a
server holding it could certify itself a counsellor. Demo mode says so on every page.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from chatserver import crypto, keys
from chatserver.config import PROJECT_ROOT, Config

CERT_DAYS = 30


def demo_dir(config: Config) -> Path:
    """Where the demo organisation key lives: next to the SQLite file, under ``var/``."""
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
